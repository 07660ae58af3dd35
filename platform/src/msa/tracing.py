"""Traces: one TracerProvider per service, W3C trace context across HTTP and NATS.

`setup(service, ...)` runs once when a service's app is built. Its spans carry
`service.name`; in monolith mode every service in the process gets its own
provider, so spans still say which service did the work. Finished spans go to
a bounded in-memory ring per process (served at `GET /internal/traces?trace_id=`)
and, when an OTLP endpoint is configured and the exporter package is installed,
to an OTLP/HTTP collector in batches.

Where spans come from: the server middleware (`msa.metrics.ObservedApp`), the
service client (one client span per attempt, `traceparent` injected), the outbox
relay (a producer span; the headers stored with the event carry the context),
inbox consumers (a consumer span continuing that context), the saga engine
(one span per step) and SQLAlchemy (one span per transaction, only inside a
trace, so background polling makes none). Traces are sampled where they start
(`MSA_TRACE_SAMPLE_RATIO`), parent-based.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import deque
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, get_current_span
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from msa.problems import problem_response

_log = logging.getLogger("msa.tracing")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

_ring: deque[ReadableSpan] = deque(maxlen=2048)
_tracers: dict[str, Tracer] = {}
_providers: dict[str, TracerProvider] = {}


class _RingProcessor(SpanProcessor):
    """Keeps the last finished spans of this process in memory."""

    def on_end(self, span: ReadableSpan) -> None:
        _ring.append(span)


def setup(service: str, *, version: str = "", instance: str = "", enabled: bool = True,
          buffer: int = 2048, otlp_endpoint: str = "", sample_ratio: float = 1.0) -> None:
    """Give `service` a TracerProvider (once per process); `enabled=False` turns tracing off.

    Sampling is parent-based: a trace is recorded or not where it starts (with
    probability `sample_ratio`), and every service it reaches follows that
    decision, so a trace is whole or absent. An unrecorded span costs a few
    microseconds; a recorded one with its attributes, about a hundred.
    """
    global _ring
    if not enabled:
        _tracers.pop(service, None)
        return
    if buffer > (_ring.maxlen or 0):
        _ring = deque(_ring, maxlen=buffer)
    if service in _providers:
        _tracers[service] = _providers[service].get_tracer("msa")
        return
    resource = Resource.create({"service.name": service, "service.version": version,
                                "service.instance.id": instance or service})
    sampler = ParentBased(TraceIdRatioBased(sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    provider.add_span_processor(_RingProcessor())
    if otlp_endpoint:
        _add_otlp(provider, otlp_endpoint)
    _providers[service] = provider
    _tracers[service] = provider.get_tracer("msa")


def _add_otlp(provider: TracerProvider, endpoint: str) -> None:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
    except ImportError:
        _log.warning("MSA_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is "
                     "not installed; spans stay in memory only")
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url = endpoint.rstrip("/")
    url = url if url.endswith("/v1/traces") else f"{url}/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))


def tracer_for(service: str) -> Tracer | None:
    """The tracer of `service`, or None when tracing is off (or not set up) for it."""
    return _tracers.get(service)


def inject_headers(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context to outgoing headers (no-op without a span)."""
    inject(headers)


def in_trace() -> bool:
    """Whether the current context holds a span (so new spans join its trace)."""
    return get_current_span().get_span_context().is_valid


def context_from(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by incoming headers."""
    return extract(dict(headers or {}))


@contextlib.contextmanager
def span(service: str, name: str, *, kind: SpanKind = SpanKind.INTERNAL,
         parent: otel_context.Context | None = None,
         attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A current span of `service` around a block (nothing when tracing is off)."""
    tracer = _tracers.get(service)
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, context=parent, kind=kind,
                                      attributes=attributes) as current:
        yield current


@contextlib.contextmanager
def producer_span(service: str, subject: str, headers: dict[str, str]) -> Iterator[None]:
    """Publishing a message whose headers carry a trace: a producer span, re-injected
    into the headers so that the consumer's span becomes its child."""
    if "traceparent" not in headers or service not in _tracers:
        yield
        return
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject,
                  "messaging.message.id": headers.get("Msa-Event-Id", "")}
    with span(service, f"{subject} publish", kind=SpanKind.PRODUCER,
              parent=extract(headers), attributes=attributes):
        inject(headers)
        yield


def consumer_span(service: str, subject: str, consumer: str,
                  headers: Mapping[str, str]) -> contextlib.AbstractContextManager[Span | None]:
    """Handling a message: a consumer span continuing the trace in its headers."""
    parent = extract(dict(headers)) if "traceparent" in headers else None
    return span(service, f"{subject} process", kind=SpanKind.CONSUMER, parent=parent,
                attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                            "messaging.consumer.group.name": consumer,
                            "messaging.message.id": headers.get("Msa-Event-Id", "")})


def finished_spans(service: str | None = None, trace_id: str | None = None,
                   limit: int = 1000) -> list[dict[str, Any]]:
    """Finished spans in the ring, oldest first, as plain dicts."""
    wanted = int(trace_id, 16) if trace_id else None
    found = []
    for item in list(_ring):
        ctx = item.context
        if ctx is None or (wanted is not None and ctx.trace_id != wanted):
            continue
        if service is not None and item.resource.attributes.get("service.name") != service:
            continue
        found.append(item)
    return [_as_dict(item) for item in found[-limit:]]


def _as_dict(item: ReadableSpan) -> dict[str, Any]:
    ctx = item.context
    assert ctx is not None
    start, end = item.start_time or 0, item.end_time or 0
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(item.parent.span_id, "016x") if item.parent else None,
        "name": item.name,
        "kind": item.kind.name.lower(),
        "service": item.resource.attributes.get("service.name"),
        "start": start / 1e9,
        "duration_ms": round((end - start) / 1e6, 3),
        "status": "error" if item.status.status_code == StatusCode.ERROR else "ok",
        "attributes": dict(item.attributes or {}),
    }


async def traces_endpoint(request: Request) -> Response:
    """`GET /internal/traces?trace_id=&limit=`: this service's finished spans, oldest first."""
    service = request.app.state.runtime.name
    trace_id = request.query_params.get("trace_id") or None
    if trace_id is not None and not _TRACE_ID.match(trace_id):
        return problem_response(400, "Bad request", "trace_id is 32 hex digits",
                                request.url.path)
    try:
        limit = max(1, min(int(request.query_params.get("limit", "1000")), 100_000))
    except ValueError:
        return problem_response(400, "Bad request", "limit is a number", request.url.path)
    return JSONResponse({"service": service,
                         "spans": finished_spans(service, trace_id, limit)})


def clear() -> None:
    """Forget every finished span (for tests)."""
    _ring.clear()
