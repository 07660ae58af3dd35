"""Traces: one tracer per service, W3C trace context across HTTP and NATS.

`setup(service, ...)` runs once when a service's app is built. Its spans carry
`service.name`; in monolith mode every service in the process gets its own
tracer, so spans still say which service did the work. The tracer and its spans
are the platform's own implementation of the OpenTelemetry API (`LeanTracer`,
`RecordedSpan`: the SDK's span cost several times more per span, see
docs/lean-checkout.md); context, propagation and export are OpenTelemetry's. Finished spans go to
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
import random
import re
import time
import traceback
from collections import deque
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    get_current_span,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from msa.problems import problem_response

_log = logging.getLogger("msa.tracing")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SCOPE = InstrumentationScope("msa")
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)

_ring: deque[RecordedSpan] = deque(maxlen=2048)
_tracers: dict[str, LeanTracer] = {}
_known: dict[str, LeanTracer] = {}


class RecordedSpan(Span):
    """A sampled span: a plain record, kept in the ring when it ends.

    The OpenTelemetry SDK's span validates every attribute as it is set and takes a
    lock for each change; in place, at a checkout's thirty-odd spans, that was about a
    fifth of the system's CPU. Ours is a slotted record written by one task (a span is
    not shared between threads here): attributes go into a dict as given (the platform
    sets strings and numbers), and are cleaned only if the span is exported. It carries
    the fields of the SDK's `ReadableSpan` that readers use (`context`, `parent`,
    `name`, `kind`, `attributes`, `events`, `status`, `start_time`, `end_time`,
    `resource`), and becomes one for an exporter.
    """

    __slots__ = ("_tracer", "attributes", "context", "end_time", "events", "kind", "name",
                 "parent", "start_time", "status")

    def __init__(self, tracer: LeanTracer, name: str, context: SpanContext,
                 parent: SpanContext | None, kind: SpanKind,
                 attributes: Mapping[str, Any] | None) -> None:
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self.events: list[Event] = []
        self.status = _UNSET
        self.start_time = time.time_ns()
        self.end_time: int | None = None
        self._tracer = tracer

    @property
    def resource(self) -> Resource:
        return self._tracer.resource

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: Any) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None,
                  timestamp: int | None = None) -> None:
        if self.end_time is None:
            self.events.append(Event(name, dict(attributes or {}), timestamp or time.time_ns()))

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK: OK is final, UNSET is ignored, a description only goes with ERROR."""
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self.status = status

    def record_exception(self, exception: BaseException,
                         attributes: Mapping[str, Any] | None = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        kind = type(exception)
        name = kind.__qualname__ if kind.__module__ in ("builtins", "") else \
            f"{kind.__module__}.{kind.__qualname__}"
        self.add_event("exception", {
            "exception.type": name, "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped), **(attributes or {})}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = end_time or time.time_ns()
        _ring.append(self)
        if self._tracer.exporter is not None:
            self._tracer.exporter.on_end(self.readable())

    def readable(self) -> ReadableSpan:
        """This span as the SDK's ReadableSpan (for an exporter), attributes cleaned."""
        return ReadableSpan(
            name=self.name, context=self.context, parent=self.parent,
            resource=self.resource, kind=self.kind, status=self.status,
            attributes=BoundedAttributes(attributes=self.attributes, immutable=True),
            events=tuple(self.events), start_time=self.start_time, end_time=self.end_time,
            instrumentation_scope=_SCOPE)


class LeanTracer(Tracer):
    """One service's tracer: parent-based sampling, `RecordedSpan`s for sampled traces.

    The decision is the SDK's `ParentBased(TraceIdRatioBased(ratio))` exactly: a span
    follows its parent's sampled flag; a root is sampled when the low 64 bits of its
    trace id fall under `ratio` of their range, so every service decides the same
    for the same trace. An unsampled span is the API's NonRecordingSpan with fresh ids
    and the flag clear, which the propagator passes on.
    """

    def __init__(self, resource: Resource, sample_ratio: float) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError("the trace sample ratio is between 0 and 1")
        self.resource = resource
        self.bound = TraceIdRatioBased.get_bound_for_rate(sample_ratio)
        self.exporter: SpanProcessor | None = None

    def start_span(self, name: str, context: otel_context.Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL,
                   attributes: Mapping[str, Any] | None = None,
                   links: Sequence[Link] | None = None, start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True
                   ) -> Span:
        found = get_current_span(context).get_span_context()
        span_id = random.getrandbits(64) or 1
        parent: SpanContext | None = None
        if found.is_valid:
            parent, trace_id, state = found, found.trace_id, found.trace_state
            sampled = found.trace_flags.sampled
        else:
            trace_id, state = random.getrandbits(128) or 1, None
            sampled = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self.bound
        if not sampled:
            return NonRecordingSpan(SpanContext(trace_id, span_id, False, _NOT_SAMPLED, state))
        span = RecordedSpan(self, name, SpanContext(trace_id, span_id, False, _SAMPLED, state),
                            parent, kind, attributes)
        if start_time:
            span.start_time = start_time
        return span

    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]  # the API's own decorator is private
            self, name: str, context: otel_context.Context | None = None,
            kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None,
            links: Sequence[Link] | None = None, start_time: int | None = None,
            record_exception: bool = True, set_status_on_exception: bool = True,
            end_on_exit: bool = True) -> Iterator[Span]:
        span = self.start_span(name, context, kind, attributes, start_time=start_time)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


def setup(service: str, *, version: str = "", instance: str = "", enabled: bool = True,
          buffer: int = 2048, otlp_endpoint: str = "", sample_ratio: float = 1.0) -> None:
    """Give `service` a tracer (once per process); `enabled=False` turns tracing off.

    Sampling is parent-based: a trace is recorded or not where it starts (with
    probability `sample_ratio`), and every service it reaches follows that
    decision, so a trace is whole or absent. An unrecorded span costs a few
    microseconds (its ids); a recorded one with its attributes, a few more.
    """
    global _ring
    if not enabled:
        _tracers.pop(service, None)
        return
    if buffer > (_ring.maxlen or 0):
        _ring = deque(_ring, maxlen=buffer)
    if service in _known:
        _tracers[service] = _known[service]
        return
    resource = Resource.create({"service.name": service, "service.version": version,
                                "service.instance.id": instance or service})
    tracer = LeanTracer(resource, sample_ratio)
    if otlp_endpoint:
        tracer.exporter = _otlp(otlp_endpoint)
    _known[service] = _tracers[service] = tracer


def _otlp(endpoint: str) -> SpanProcessor | None:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
    except ImportError:
        _log.warning("MSA_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is "
                     "not installed; spans stay in memory only")
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url = endpoint.rstrip("/")
    url = url if url.endswith("/v1/traces") else f"{url}/v1/traces"
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=url))


def flush(service: str, timeout_ms: int = 30_000) -> bool:
    """Send `service`'s spans waiting for the exporter now; False if they did not all go."""
    tracer = _known.get(service)
    if tracer is None or tracer.exporter is None:
        return True
    return tracer.exporter.force_flush(timeout_ms)


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
        if wanted is not None and ctx.trace_id != wanted:
            continue
        if service is not None and item.resource.attributes.get("service.name") != service:
            continue
        found.append(item)
    return [_as_dict(item) for item in found[-limit:]]


def _as_dict(item: RecordedSpan) -> dict[str, Any]:
    ctx = item.context
    start, end = item.start_time, item.end_time or 0
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
