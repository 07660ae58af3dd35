"""A transport that answers from a function: for tests of what sits above the transport.

    def handler(request: SentRequest) -> Response:
        return answer(409, {"title": "Conflict", "detail": "not enough"})

    client = ServiceClient("caller", "callee", ["http://a"], transport=FakeTransport(handler))

The handler may be async, and may raise `ConnectFailed` (nothing sent) or
`ConnectionBroken` as a real connection would.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from msa.transport import Headers, OutgoingRequest, Response


@dataclass(frozen=True)
class SentRequest:
    """What the client sent, and to which address."""

    base: str
    method: str
    target: str
    headers: Headers
    body: bytes

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or ""

    def json(self) -> Any:
        return orjson.loads(self.body)


Handler = Callable[[SentRequest], Response | Awaitable[Response]]


def answer(status: int, json: Any = None, headers: dict[str, str] | None = None) -> Response:
    """A response with a JSON body (none when `json` is None)."""
    sent = Headers((headers or {}).items())
    if json is None:
        return Response(status, sent)
    sent.setdefault("content-type", "application/json")
    return Response(status, sent, orjson.dumps(json))


class FakeTransport:
    """Hands every request to `handler` and returns its answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.closed = False

    async def send(self, base: str, request: OutgoingRequest) -> Response:
        sent = SentRequest(base, request.method, request.target,
                           Headers(request.headers.items()), request.body)
        result = self.handler(sent)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, Response)
        return result

    async def aclose(self) -> None:
        self.closed = True
