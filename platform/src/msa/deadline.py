"""Deadlines that travel with a request from service to service.

A caller sends what is left of its budget in `X-Msa-Deadline-Ms` (milliseconds,
relative, so clocks need not agree). The callee's `DeadlineGuard` refuses a
request that arrives with no time left (504 problem, no work done), keeps the
deadline in a context variable, and cancels the request's work once the deadline
has passed (its transaction rolls back; a 504 problem is sent if nothing was sent
yet); `msa.client` never waits past it and sends the smaller remainder on, so a
chain of calls stops as soon as the first caller has given up instead of working
for nobody. Work that must outlive the request (a saga) runs in its own task,
shielded, and calls `clear()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msa.problems import problem_response

DEADLINE_HEADER = "x-msa-deadline-ms"
_HEADER_KEY = DEADLINE_HEADER.encode()
MAX_BUDGET = 300.0  # seconds; a larger value is capped, not trusted
GRACE = 0.05  # seconds past the deadline before the work is cancelled (the caller's own
#               timer fires first, so its error is the one that counts)

_deadline: ContextVar[float | None] = ContextVar("msa_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current request's deadline (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run a block under a deadline `seconds` from now (or the current one, if sooner)."""
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def clear() -> None:
    """Drop the deadline in this context: for work that outlives the request (a saga)."""
    _deadline.set(None)


def header_value(budget: float) -> str:
    """The header value that hands `budget` seconds on."""
    return str(max(0, int(budget * 1000)))


class DeadlineGuard:
    """ASGI middleware: refuse requests whose deadline has passed; remember the deadline."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget = _budget(scope)
        if budget is None:
            await self.app(scope, receive, send)
            return
        if budget <= 0:
            response = problem_response(
                504, "Gateway timeout", "the caller's deadline passed before the work began",
                scope.get("path"))
            await response(scope, receive, send)
            return
        deadline = time.monotonic() + budget
        outer = _deadline.get()
        token = _deadline.set(deadline if outer is None else min(outer, deadline))
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(budget + GRACE):
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started:
                return  # the answer was on its way; the caller has stopped listening
            response = problem_response(
                504, "Gateway timeout", "the caller's deadline passed; the work was stopped",
                scope.get("path"))
            await response(scope, receive, send)
        finally:
            _deadline.reset(token)


def _budget(scope: Scope) -> float | None:
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            try:
                return min(int(value) / 1000.0, MAX_BUDGET)
            except ValueError:
                return None
    return None
