"""Prometheus metrics every service exports without writing any code.

Metrics carry a `service` label so that a monolith (many services in one
process) exports the same series as separate processes do.
"""

from __future__ import annotations

import time
from typing import Any

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
BUILD_INFO = Info("msa_build", "Service build information")


def metrics_response(_: Request) -> Response:
    """The Prometheus exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class ObservedApp:
    """ASGI middleware: request id, logging context and RED metrics for every request.

    Written as plain ASGI (not BaseHTTPMiddleware) to keep per-request work small.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.in_flight = HTTP_IN_FLIGHT.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or _new_request_id()
        token_rid = request_id_var.set(request_id)
        token_svc = service_var.set(self.service)
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
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(
                time.perf_counter() - started
            )
            request_id_var.reset(token_rid)
            service_var.reset(token_svc)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text[:128] if text else None
    return None


def _new_request_id() -> str:
    import uuid

    return uuid.uuid4().hex

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
SAGAS_IN_FLIGHT = Gauge(
    "msa_sagas_in_flight", "Sagas being driven by this process", ["service", "saga"]
)
