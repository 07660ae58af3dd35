"""The seam under `msa.client`: one request out, one response back.

`msa.client.ServiceClient` decides what to send, where, how often and for how long
(deadlines, retries, breaker, bulkhead, spans, metrics); a transport only carries one
request to one address and brings back the answer. Two transports exist:
`msa.transport.http.HttpTransport` (HTTP/1.1 over pooled keep-alive connections) and
`msa.transport.inprocess.InProcessTransport` (a direct ASGI call to a colocated app,
monolith mode: no sockets, no HTTP framing). Tests plug in their own.

What a transport may raise, and what the client makes of it:
`ConnectFailed` (nothing was sent: the next replica may take the call),
`ConnectionBroken` (it went wrong after sending: the outcome is unknown) and
`TimeoutError` (no answer in time: the outcome is unknown).
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

__all__ = ["ConnectFailed", "ConnectionBroken", "Headers", "OutgoingRequest", "Response",
           "Transport"]


class ConnectFailed(Exception):
    """No connection could be made: nothing of the request was sent."""


class ConnectionBroken(Exception):
    """The connection failed after the request was (perhaps partly) sent."""


class Headers(dict[str, str]):
    """Response headers: names in lower case, looked up in any case; repeated ones joined
    with `, ` (as RFC 9110 allows)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in pairs:
            name = name.lower()
            held = dict.get(self, name)
            dict.__setitem__(self, name, value if held is None else f"{held}, {value}")

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


class Response:
    """An answer from another service: what callers of `msa.client` use of it."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Headers | None = None,
                 content: bytes = b"") -> None:
        self.status_code = status_code
        self.headers = headers if headers is not None else Headers()
        self.content = content

    def json(self) -> Any:
        """The body as JSON (ValueError if it is not)."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def reason_phrase(self) -> str:
        try:
            return http.HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


@dataclass(slots=True)
class OutgoingRequest:
    """One request as a transport sends it: `target` is the path with its query string,
    percent-encoded; `headers` have lower-case names."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Transport(Protocol):
    """Carries one request to `base` (an address such as `http://127.0.0.1:8001`)."""

    async def send(self, base: str, request: OutgoingRequest) -> Response: ...

    async def aclose(self) -> None: ...
