"""Calling another service by name.

One `ServiceClient` per callee per process (one connection pool), never one per
request. Addresses come from `MSA_ADDRESSES` or system.toml; replicas are used
round-robin and a replica that refuses the connection is skipped. When the callee
runs in the same process (monolith), calls are direct ASGI calls into its app
(`msa.transport.inprocess`): no sockets, no HTTP framing, but the same middleware,
validation and error handling. Otherwise they go over pooled keep-alive HTTP/1.1
connections (`msa.transport.http`). Everything above the transport is one code path.

Every call has a deadline: the edge's `timeout` (or the call's), never more than
the caller's own request has left (`msa.deadline`); the remainder travels on in
`X-Msa-Deadline-Ms`. Each attempt is a client span whose `traceparent` is sent
along. The edge's guards (`msa.resilience`) apply per callee: a bulkhead caps
calls in flight, a circuit breaker fails calls fast while the callee keeps
failing, and retries (only for idempotent calls, with exponential backoff and
jitter) stay within a retry budget.

Errors become typed exceptions: `ServiceUnavailable` (nothing was done; also
`CircuitOpen` and `BulkheadFull`), `ServiceTimeout` (the outcome is unknown),
`RemoteProblem` (the callee answered with a problem, e.g. 404 or 409).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind, StatusCode

from msa import deadline, tracing
from msa.call_errors import (
    BulkheadFull,
    CircuitOpen,
    RemoteProblem,
    ServiceCallError,
    ServiceTimeout,
    ServiceUnavailable,
)
from msa.logs import request_id_var
from msa.metrics import (
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    CLIENT_LATENCY,
    CLIENT_REJECTED,
    CLIENT_REQUESTS,
)
from msa.resilience import STATE_NAMES, Bulkhead, CircuitBreaker, RetryBudget
from msa.system import Edge
from msa.transport import ConnectFailed, ConnectionBroken, OutgoingRequest, Response, Transport
from msa.transport.http import HttpTransport

__all__ = [
    "BulkheadFull", "CallerCredentials", "CircuitOpen", "RemoteProblem", "Response",
    "ServiceCallError", "ServiceClient", "ServiceTimeout", "ServiceUnavailable",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
_JSON = "application/json"


class CallerCredentials(Protocol):
    """What proves the caller's identity on each call (`msa.service_auth.ServiceTokenAuth`)."""

    def headers(self) -> Mapping[str, str]: ...


class ServiceClient:
    """Calls one service; safe to share across tasks."""

    def __init__(
        self,
        caller: str,
        target: str,
        base_urls: list[str],
        *,
        edge: Edge | None = None,
        transport: Transport | None = None,
        default_headers: Mapping[str, str] | None = None,
        auth: CallerCredentials | None = None,
    ) -> None:
        """`auth` adds the caller's credentials to every request (see msa.service_auth);
        `transport` carries the requests (default: pooled keep-alive HTTP/1.1)."""
        if not base_urls:
            raise ValueError(f"no address for service {target!r}")
        self.caller = caller
        self.target = target
        self.edge = edge = edge or Edge()
        self._bases = [url.rstrip("/") for url in base_urls]
        self._next = itertools.cycle(range(len(self._bases)))
        self._transport: Transport = transport or HttpTransport()
        self._default_headers = {name.lower(): value
                                 for name, value in (default_headers or {}).items()}
        self._auth = auth
        state = BREAKER_STATE.labels(caller, target)
        state.set(0)

        def breaker_changed(new: int) -> None:
            state.set(new)
            BREAKER_TRANSITIONS.labels(caller, target, STATE_NAMES[new]).inc()

        self.breaker = CircuitBreaker(edge.breaker_failure_ratio, edge.breaker_min_calls,
                                      edge.breaker_window, edge.breaker_open_seconds,
                                      on_change=breaker_changed)
        self.bulkhead = Bulkhead(edge.max_concurrent)
        self.retry_budget = RetryBudget(edge.retry_budget)
        self._children: dict[tuple[str, str | None], Any] = {}
        self._rejected = {reason: CLIENT_REJECTED.labels(caller, target, reason)
                          for reason in ("circuit_open", "bulkhead_full", "retry_budget",
                                         "deadline")}

    def _metric_children(self, method: str, outcome: str | None) -> Any:
        # a label lookup costs more than the update: each child is looked up once
        key = (method, outcome)
        child = self._children.get(key)
        if child is None:
            child = (CLIENT_LATENCY.labels(self.caller, self.target, method) if outcome is None
                     else CLIENT_REQUESTS.labels(self.caller, self.target, method, outcome))
            self._children[key] = child
        return child

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        passthrough: bool = False,
    ) -> Response:
        """Send a request; raise a `ServiceCallError` for anything but 2xx/3xx.

        Calls that are safe to repeat (GET/PUT/DELETE, or any call with an
        idempotency key) are retried with exponential backoff and jitter while
        the deadline and the retry budget allow. With `passthrough`, error
        answers are returned rather than raised (a proxy relays them as they are).
        """
        method = method.upper()
        budget = timeout or self.edge.timeout
        left = deadline.remaining()
        if left is not None and left < budget:
            budget = left
        if budget <= 0:
            self._rejected["deadline"].inc()
            raise ServiceTimeout(self.target, "the caller's deadline has passed; nothing sent")
        if not self.bulkhead.try_enter():
            self._rejected["bulkhead_full"].inc()
            raise BulkheadFull(self.target, f"{self.bulkhead.limit} calls already in flight")
        try:
            outgoing = self._outgoing(method, path, json, content, params, headers,
                                      idempotency_key)
            return await self._attempts(outgoing, path, idempotency_key,
                                        time.monotonic() + budget, retries, passthrough)
        finally:
            self.bulkhead.leave()

    def _outgoing(self, method: str, path: str, json: Any, content: bytes | None, params: Any,
                  headers: Mapping[str, str] | None,
                  idempotency_key: str | None) -> OutgoingRequest:
        sent = dict(self._default_headers)
        if self._auth is not None:
            sent.update(self._auth.headers())
        if json is not None:
            body = orjson.dumps(json)
            sent["content-type"] = _JSON
        else:
            body = content or b""
        for name, value in (headers or {}).items():
            sent[name.lower()] = value
        request_id = request_id_var.get()
        if request_id:
            sent.setdefault("x-request-id", request_id)
        if idempotency_key:
            sent["idempotency-key"] = idempotency_key
        if params:
            query = urlencode(params, doseq=True)
            if query:
                path = f"{path}{'&' if '?' in path else '?'}{query}"
        return OutgoingRequest(method, path, sent, body)

    async def _attempts(self, outgoing: OutgoingRequest, path: str,
                        idempotency_key: str | None, until: float, retries: int | None,
                        passthrough: bool) -> Response:
        method = outgoing.method
        repeatable = method in IDEMPOTENT_METHODS or idempotency_key is not None
        attempts = 1 + (self.edge.retries if retries is None else retries) if repeatable else 1
        self.retry_budget.on_call()
        error: ServiceCallError | None = None
        for attempt in range(attempts):
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            probe = self.breaker.allow()
            if probe is None:
                self._rejected["circuit_open"].inc()
                error = error or CircuitOpen(self.target, "circuit open: failing fast")
                break
            try:
                response = await self._send_once(outgoing, path, remaining)
            except RemoteProblem as exc:
                self.breaker.record(probe, ok=(exc.status or 0) < 500)
                if exc.status not in RETRYABLE_STATUS:
                    if passthrough and exc.response is not None:
                        return exc.response
                    raise
                error = exc
                if passthrough and attempt + 1 >= attempts and exc.response is not None:
                    return exc.response
            except (ServiceUnavailable, ServiceTimeout) as exc:
                self.breaker.record(probe, ok=False)
                error = exc
            except BaseException:
                self.breaker.abandon(probe)
                raise
            else:
                self.breaker.record(probe, ok=True)
                return response
            if attempt + 1 < attempts:
                if not self.retry_budget.try_retry():
                    self._rejected["retry_budget"].inc()
                    break
                backoff = min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5)
                await asyncio.sleep(min(backoff, max(0.0, until - time.monotonic())))
        if passthrough and isinstance(error, RemoteProblem) and error.response is not None:
            return error.response
        raise error or ServiceTimeout(self.target, "deadline passed before the call was sent")

    async def _send_once(self, outgoing: OutgoingRequest, path: str,
                         budget: float) -> Response:
        started = time.perf_counter()
        outcome = "error"
        method = outgoing.method
        sent = {**outgoing.headers, deadline.DEADLINE_HEADER: deadline.header_value(budget)}
        tracer = tracing.tracer_for(self.caller)
        span = None
        if tracer is not None:
            span = tracer.start_span(f"{method} {self.target}", kind=SpanKind.CLIENT, attributes={
                "peer.service": self.target, "http.request.method": method, "url.path": path})
            inject(sent, context=trace.set_span_in_context(span))
        else:
            inject(sent)
        try:
            response = await self._send_to_a_replica(
                OutgoingRequest(method, outgoing.target, sent, outgoing.body), path, budget)
            outcome = str(response.status_code)
        except ServiceTimeout:
            outcome = "timeout"
            raise
        except ServiceUnavailable:
            outcome = "unavailable"
            raise
        finally:
            self._metric_children(method, outcome).inc()
            self._metric_children(method, None).observe(time.perf_counter() - started)
            if span is not None:
                span.set_attribute("msa.outcome", outcome)
                if not outcome.isdigit() or int(outcome) >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
        if response.status_code >= 400:
            raise RemoteProblem(
                self.target,
                f"{method} {path} answered {response.status_code}",
                status=response.status_code,
                problem=_problem_of(response),
                response=response,
            )
        return response

    async def _send_to_a_replica(self, request: OutgoingRequest, path: str,
                                 budget: float) -> Response:
        what = f"{request.method} {path}"
        last: Exception | None = None
        for _ in range(len(self._bases)):
            base = self._bases[next(self._next)]
            try:
                async with asyncio.timeout(budget):
                    return await self._transport.send(base, request)
            except ConnectFailed as exc:
                last = exc  # nothing was sent: the next replica may take it
            except TimeoutError as exc:
                raise ServiceTimeout(self.target, f"{what}: no answer in time") from exc
            except ConnectionBroken as exc:
                raise ServiceTimeout(self.target, f"{what}: {exc}") from exc
        raise ServiceUnavailable(self.target, f"cannot connect ({last})")

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        return (await self.request("POST", path, json=body, **kwargs)).json()


def _problem_of(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "status": response.status_code}
    return body if isinstance(body, dict) else {"status": response.status_code}
