"""Calls to a service in the same process (monolith mode): a direct ASGI call.

The request becomes an ASGI scope and the callee's app is awaited with it, in the
caller's task: its middleware (service guard, deadline, metrics, tracing), request
validation, problem handlers and routes run exactly as for a call over the network;
only the sockets and the HTTP framing are gone. A callee that fails without an
answer looks to the caller as a server that answered 500.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

from msa.transport import Headers, OutgoingRequest, Response

_CLIENT = ("127.0.0.1", 0)


class InProcessTransport:
    """Sends requests to an ASGI app in this process."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self._server = (name, 80)

    async def send(self, base: str, request: OutgoingRequest) -> Response:
        path, _, query = request.target.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": request.method, "scheme": "http",
            "path": unquote(path), "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"), "root_path": "",
            "headers": [*((name.encode("latin-1"), value.encode("latin-1"))
                          for name, value in request.headers.items()),
                        (b"content-length", str(len(request.body)).encode())],
            "client": _CLIENT, "server": self._server, "extensions": {},
        }
        exchange = _Exchange(request.body)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            if exchange.status is None:  # failed before answering: what a server says then
                return Response(500, Headers([("content-type", "text/plain; charset=utf-8")]),
                                b"Internal Server Error")
            # an error after the answer was sent (Starlette re-raises after its 500):
            # the caller gets the answer, as it would over the network
        finally:
            exchange.finished.set()
        if exchange.status is None:
            return Response(500, Headers(), b"")
        return exchange.response()

    async def aclose(self) -> None:
        """Nothing to close: the app's life is its host's business."""


class _Exchange:
    """The two ASGI channels of one request: the body in, the answer out."""

    __slots__ = ("_body", "_chunks", "_headers", "finished", "status")

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self.finished = asyncio.Event()
        self.status: int | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []

    async def receive(self) -> dict[str, Any]:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.finished.wait()  # asked again: the client "disconnects" once answered
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self._headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                self._chunks.append(chunk)
            if not message.get("more_body", False):
                self.finished.set()

    def response(self) -> Response:
        assert self.status is not None
        headers = Headers((name.decode("latin-1"), value.decode("latin-1"))
                          for name, value in self._headers)
        chunks = self._chunks
        return Response(self.status, headers,
                        chunks[0] if len(chunks) == 1 else b"".join(chunks))
