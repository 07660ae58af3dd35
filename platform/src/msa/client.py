"""Calling another service by name.

One `ServiceClient` per callee per process (one connection pool), never one per
request. Addresses come from `MSA_ADDRESSES` or system.toml; replicas are used
round-robin and a replica that refuses the connection is skipped. When the callee
runs in the same process (monolith), calls go through an in-process ASGI transport:
no sockets, but the same middleware, validation and error handling.

Every call has a deadline. Errors become typed exceptions:
`ServiceUnavailable` (nothing was done), `ServiceTimeout` (the outcome is unknown),
`RemoteProblem` (the callee answered with a problem, e.g. 404 or 409).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx

from msa.logs import request_id_var
from msa.metrics import CLIENT_LATENCY, CLIENT_REQUESTS
from msa.system import Edge

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ServiceCallError(Exception):
    """A call to another service did not succeed."""

    def __init__(self, target: str, message: str, status: int | None = None,
                 problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.status = status
        self.problem = problem or {}


class ServiceUnavailable(ServiceCallError):
    """The callee could not be reached or said it is unavailable: nothing was done."""


class ServiceTimeout(ServiceCallError):
    """The deadline passed before an answer: the call may or may not have taken effect."""


class RemoteProblem(ServiceCallError):
    """The callee answered with an error (4xx/5xx) and a problem body."""

    def __init__(self, target: str, message: str, status: int | None = None,
                 problem: dict[str, Any] | None = None,
                 response: httpx.Response | None = None) -> None:
        super().__init__(target, message, status, problem)
        self.response = response

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")


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
    ) -> None:
        if not base_urls:
            raise ValueError(f"no address for service {target!r}")
        self.caller = caller
        self.target = target
        self.edge = edge or Edge()
        self._bases = [url.rstrip("/") for url in base_urls]
        self._next = itertools.cycle(range(len(self._bases)))
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=limits,
            timeout=httpx.Timeout(self.edge.timeout),
            headers=dict(default_headers or {}),
        )

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
        the deadline allows. With `passthrough`, error answers are returned
        rather than raised (a proxy relays them as they are).
        """
        method = method.upper()
        deadline = time.monotonic() + (timeout or self.edge.timeout)
        send_headers = dict(headers or {})
        request_id = request_id_var.get()
        if request_id:
            send_headers.setdefault("x-request-id", request_id)
        if idempotency_key:
            send_headers["idempotency-key"] = idempotency_key
        repeatable = method in IDEMPOTENT_METHODS or idempotency_key is not None
        attempts = 1 + (self.edge.retries if retries is None else retries) if repeatable else 1
        error: ServiceCallError | None = None
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = await self._send_once(method, path, json, content, params,
                                                 send_headers, remaining)
            except RemoteProblem as exc:
                if passthrough and exc.response is not None and exc.status not in (502, 503, 504):
                    return exc.response
                if exc.status not in (502, 503, 504):
                    raise
                error = exc
                if passthrough and attempt + 1 >= attempts and exc.response is not None:
                    return exc.response
            except (ServiceUnavailable, ServiceTimeout) as exc:
                error = exc
            else:
                return response
            if attempt + 1 < attempts:
                backoff = min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5)
                await asyncio.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
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
        try:
            response = await self._send_to_a_replica(method, path, json, content, params, headers,
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
