"""Calling another service by name.

One `ServiceClient` per callee per process (one connection pool), never one per
request. Addresses come from `MSA_ADDRESSES` or system.toml; replicas are used
round-robin and a replica that refuses the connection is skipped. When the callee
runs in the same process (monolith), calls go through an in-process ASGI transport:
no sockets, but the same middleware, validation and error handling.

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
import importlib.util
import itertools
import random
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx
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


def _remember_missing_sniffio() -> None:
    # httpx's in-process (ASGI) transport and httpcore (when a response is closed) try
    # `import sniffio` on every request; when sniffio is not installed, each failed import
    # scans sys.path (~1 ms here; 7 % of orders' CPU under load). Marking it absent once
    # makes the import fail at once (the documented `sys.modules[name] = None`).
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


__all__ = [
    "BulkheadFull", "CircuitOpen", "RemoteProblem", "ServiceCallError", "ServiceClient",
    "ServiceTimeout", "ServiceUnavailable",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({502, 503, 504})


class ServiceClient:
    """Calls one service; safe to share across tasks."""

    def __init__(
        self,
        caller: str,
        target: str,
        base_urls: list[str],
        *,
        edge: Edge | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        default_headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        """`auth` adds the caller's credentials to every request (see msa.service_auth)."""
        if not base_urls:
            raise ValueError(f"no address for service {target!r}")
        _remember_missing_sniffio()
        self.caller = caller
        self.target = target
        self.edge = edge = edge or Edge()
        self._bases = [url.rstrip("/") for url in base_urls]
        self._next = itertools.cycle(range(len(self._bases)))
        limits = httpx.Limits(max_connections=min(64, edge.max_concurrent),
                              max_keepalive_connections=min(32, edge.max_concurrent))
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=limits,
            timeout=httpx.Timeout(edge.timeout),
            headers=dict(default_headers or {}),
            auth=auth,
        )
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
        self._rejected = {reason: CLIENT_REJECTED.labels(caller, target, reason)
                          for reason in ("circuit_open", "bulkhead_full", "retry_budget",
                                         "deadline")}

    async def aclose(self) -> None:
        await self._http.aclose()

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
    ) -> httpx.Response:
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
            return await self._attempts(method, path, json, content, params, headers,
                                        idempotency_key, time.monotonic() + budget, retries,
                                        passthrough)
        finally:
            self.bulkhead.leave()

    async def _attempts(self, method: str, path: str, json: Any, content: bytes | None,
                        params: Any, headers: Mapping[str, str] | None,
                        idempotency_key: str | None, until: float, retries: int | None,
                        passthrough: bool) -> httpx.Response:
        send_headers = dict(headers or {})
        request_id = request_id_var.get()
        if request_id:
            send_headers.setdefault("x-request-id", request_id)
        if idempotency_key:
            send_headers["idempotency-key"] = idempotency_key
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
                response = await self._send_once(method, path, json, content, params,
                                                 send_headers, remaining)
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

    async def _send_once(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | None,
        params: Any,
        headers: dict[str, str],
        budget: float,
    ) -> httpx.Response:
        started = time.perf_counter()
        outcome = "error"
        sent = {**headers, deadline.DEADLINE_HEADER: deadline.header_value(budget)}
        tracer = tracing.tracer_for(self.caller)
        span = None
        if tracer is not None:
            span = tracer.start_span(f"{method} {self.target}", kind=SpanKind.CLIENT, attributes={
                "peer.service": self.target, "http.request.method": method, "url.path": path})
            inject(sent, context=trace.set_span_in_context(span))
        else:
            inject(sent)
        try:
            response = await self._send_to_a_replica(method, path, json, content, params, sent,
                                                     budget)
            outcome = str(response.status_code)
        except ServiceTimeout:
            outcome = "timeout"
            raise
        except ServiceUnavailable:
            outcome = "unavailable"
            raise
        finally:
            CLIENT_REQUESTS.labels(self.caller, self.target, method, outcome).inc()
            CLIENT_LATENCY.labels(self.caller, self.target, method).observe(
                time.perf_counter() - started
            )
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

    async def _send_to_a_replica(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | None,
        params: Any,
        headers: dict[str, str],
        budget: float,
    ) -> httpx.Response:
        last: Exception | None = None
        for _ in range(len(self._bases)):
            base = self._bases[next(self._next)]
            try:
                async with asyncio.timeout(budget):
                    return await self._http.request(
                        method, base + path, json=json, content=content, params=params,
                        headers=headers, timeout=budget,
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = exc  # nothing was sent: the next replica may take it
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise ServiceTimeout(self.target, f"{method} {path}: no answer in time") from exc
            except httpx.TransportError as exc:
                raise ServiceTimeout(self.target, f"{method} {path}: {type(exc).__name__}") from exc
        raise ServiceUnavailable(self.target, f"cannot connect ({type(last).__name__})")

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        return (await self.request("POST", path, json=body, **kwargs)).json()


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "status": response.status_code}
    return body if isinstance(body, dict) else {"status": response.status_code}
