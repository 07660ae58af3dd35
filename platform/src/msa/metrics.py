"""Prometheus metrics every service exports without writing any code.

Metrics carry a `service` label so that a monolith (many services in one
process) exports the same series as separate processes do. What they cover:
RED per route (`ObservedApp`) and per outbound call (`msa.client`), sagas
(`msa.sagas`), messaging and the database pool (`msa.gauges`),
circuit breakers and build info. Services add business counters with
`business_counter`. The alert rules and dashboards in `msa.tools.monitoring` use
exactly these names; a test checks that they exist.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msa import tracing
from msa.logs import request_id_var, service_var

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "msa_http_requests_total",
    "HTTP requests handled, by route template and status",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "msa_http_request_duration_seconds",
    "Time to handle an HTTP request, by route template",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "msa_http_requests_in_flight", "HTTP requests being handled", ["service"]
)
CLIENT_REQUESTS = Counter(
    "msa_client_requests_total",
    "Outbound calls to other services, by outcome",
    ["service", "target", "method", "outcome"],
)
CLIENT_LATENCY = Histogram(
    "msa_client_request_duration_seconds",
    "Duration of outbound calls to other services",
    ["service", "target", "method"],
    buckets=LATENCY_BUCKETS,
)
CLIENT_REJECTED = Counter(
    "msa_client_rejected_total",
    "Outbound calls or retries not sent: circuit_open, bulkhead_full, retry_budget, deadline",
    ["service", "target", "reason"],
)
BREAKER_STATE = Gauge(
    "msa_circuit_breaker_state",
    "Circuit breaker per downstream: 0 closed, 1 half-open, 2 open",
    ["service", "target"],
)
BREAKER_TRANSITIONS = Counter(
    "msa_circuit_breaker_transitions_total",
    "Circuit breaker state changes, by the state entered",
    ["service", "target", "state"],
)
BUILD_INFO = Info("msa_build", "Service build information", ["service"])

SAGAS_STARTED = Counter("msa_sagas_started_total", "Sagas started", ["service", "saga"])
SAGAS_ENDED = Counter(
    "msa_sagas_ended_total", "Sagas that reached an end state", ["service", "saga", "status"]
)
SAGA_STEP_LATENCY = Histogram(
    "msa_saga_step_duration_seconds",
    "Duration of one saga step attempt, by outcome",
    ["service", "saga", "step", "direction", "outcome"],
    buckets=LATENCY_BUCKETS,
)
SAGA_STEP_FAILURES = Counter(
    "msa_saga_step_failures_total",
    "Saga steps given up, by cause: refused (a participant's definite no) or deadline "
    "(no answer within the step's deadline)",
    ["service", "saga", "step", "cause"],
)
SAGAS_IN_FLIGHT = Gauge(
    "msa_sagas_in_flight", "Sagas being driven by this process", ["service", "saga"]
)
SAGAS_ACTIVE = Gauge(
    "msa_sagas_active", "Sagas not yet ended, in the service's database", ["service", "saga"]
)
SAGA_OLDEST_ACTIVE = Gauge(
    "msa_saga_oldest_active_seconds", "Age of the oldest saga not yet ended", ["service", "saga"]
)
OUTBOX_UNPUBLISHED = Gauge(
    "msa_outbox_unpublished", "Outbox rows not yet published", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "msa_outbox_oldest_unpublished_seconds", "Age of the oldest unpublished outbox row",
    ["service"],
)
CONSUMER_PENDING = Gauge(
    "msa_consumer_pending_messages", "Messages not yet delivered to a durable consumer",
    ["service", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "msa_consumer_ack_pending_messages", "Messages delivered but not yet acknowledged",
    ["service", "consumer"],
)
DEAD_LETTERS = Counter(
    "msa_dead_letters_total", "Messages moved to the dead-letter stream, per subscription",
    ["service", "consumer"],
)
DB_POOL_CHECKED_OUT = Gauge(
    "msa_db_pool_checked_out", "Database connections in use", ["service"]
)
DB_POOL_SIZE = Gauge(
    "msa_db_pool_size", "Database connections the pool may open", ["service"]
)

_BUSINESS: dict[str, Counter] = {}
_BUSINESS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def business_counter(name: str, documentation: str, *, service: str) -> Counter:
    """A counter of business events a service increments, e.g. `orders_confirmed`.

    The name starts with the service's name (like its events) and is exported
    as `<name>_total{service=...}`; count money in integer units (`..._cents`).
    Returns the labelled counter: `CONFIRMED.inc()`, `REVENUE.inc(total_cents)`.
    """
    if not _BUSINESS_NAME.match(name) or name.endswith("_total"):
        raise ValueError(f"business metric {name!r}: lower-case words, no '_total' suffix")
    if not name.startswith(f"{service}_"):
        raise ValueError(f"business metric {name!r} must start with '{service}_'")
    counter = _BUSINESS.get(name)
    if counter is None:
        counter = _BUSINESS[name] = Counter(name, documentation, ["service"])
    child: Counter = counter.labels(service)
    return child


def build_info(service: str, version: str, git_sha: str, root: Path | None = None) -> None:
    """Export `msa_build_info{service, version, git_sha} 1`.

    Without a configured sha (MSA_GIT_SHA), the checkout's HEAD under `root` is
    read from `.git` directly (no `git` process).
    """
    if git_sha == "unknown" and root is not None:
        git_sha = _head_of(root) or git_sha
    BUILD_INFO.labels(service).info({"version": version, "git_sha": git_sha})


def _head_of(root: Path) -> str | None:
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:40]
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()[:40]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split(" ", 1)[0][:40]
    except OSError:
        return None
    return None


def metrics_response(_: Request) -> Response:
    """The Prometheus exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


_UNTRACED = ("/metrics", "/healthz", "/readyz", "/internal/traces")


class ObservedApp:
    """ASGI middleware: request id, trace and RED metrics for every request.

    Written as plain ASGI (not BaseHTTPMiddleware) to keep per-request work small:
    one pass over the headers, one server span (not for health, metrics and
    trace reads), two metric updates.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.in_flight = HTTP_IN_FLIGHT.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        carrier: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:128] or None
            elif key in (b"traceparent", b"tracestate"):
                carrier[key.decode()] = value.decode("latin-1")
        request_id = request_id or _new_request_id()
        token_rid = request_id_var.set(request_id)
        token_svc = service_var.set(self.service)
        method = scope["method"]
        span, token_ctx = self._start_span(scope, method, carrier, request_id)
        status = 500
        started = time.perf_counter()
        self.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight.dec()
            route = _route_template(scope)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(
                time.perf_counter() - started
            )
            if span is not None:
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.route": route, "http.response.status_code": status})
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
                otel_context.detach(token_ctx)
            request_id_var.reset(token_rid)
            service_var.reset(token_svc)

    def _start_span(self, scope: Scope, method: str, carrier: dict[str, str],
                    request_id: str) -> tuple[Any, Any]:
        tracer = tracing.tracer_for(self.service)
        if tracer is None:
            return None, None
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path.startswith(_UNTRACED):
            return None, None
        parent = extract(carrier) if carrier else None
        attributes = {"http.request.method": method, "url.path": path,
                      "msa.request_id": request_id}
        span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER,
                                 attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, parent))


ROUTE_LABEL = "msa.route"
"""Scope key a handler may set to name its route in metrics and spans more finely
than its template (the gateway's catch-all names the service prefix it forwards to)."""


def _route_template(scope: Scope) -> str:
    label = scope.get(ROUTE_LABEL)
    if label:
        return str(label)
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _new_request_id() -> str:
    import uuid

    return uuid.uuid4().hex
