"""HTTP/1.1 to other services over pooled keep-alive connections.

A deliberately small client: the services speak plain HTTP/1.1 on loopback or a
cluster network, one request at a time per connection, bodies with a length. An
`asyncio.Protocol` per connection parses answers with `httptools` (llhttp, the
parser uvicorn uses); idle connections are kept per address and reused, newest
first. Measured against httpx and aiohttp in `bench/client_transport.py`: several
times less CPU per call than either (see the README's design notes).

A connection idle longer than `IDLE_SECONDS` is closed rather than reused: servers
drop idle connections (uvicorn after 5 s), and a request written onto a connection
the server is closing at that moment would fail with an unknown outcome. For the
same reason an idle connection that has become readable (the peer closed it or
died, and the loop has not noticed yet) is dropped before it is reused.
"""

from __future__ import annotations

import asyncio
import re
import select
import time
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools

from msa.transport import ConnectFailed, ConnectionBroken, Headers, OutgoingRequest, Response

IDLE_SECONDS = 4.0
MAX_IDLE_PER_ADDRESS = 64
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
_NOT_IN_TARGETS = re.compile(r"[^\x21-\x7e]")  # a request target is visible ASCII only


class _Connection(asyncio.Protocol):
    """One keep-alive connection; answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.fileno = -1
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Response] | None = None
        self._headers: list[tuple[str, str]] = []
        self._name = ""
        self._body: list[bytes] = []
        self._keep_alive = False
        self._head = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        self.fileno = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionBroken(f"malformed answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionBroken(f"connection closed before the answer ended ({exc})"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self._head:  # no body follows an answer to HEAD, whatever its length says
            self._keep_alive = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self.parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers = []
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        answer.set_result(Response(status, Headers(self._headers), body))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    async def exchange(self, head: bytes, body: bytes, is_head: bool) -> Response:
        """Send one request and wait for its whole answer."""
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._headers, self._body, self._keep_alive, self._head = [], [], False, is_head
        if body and len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            if body:
                self.transport.write(body)
        return await self._answer

    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self.closed

    def still_open(self) -> bool:
        """Whether an idle connection can take a request: nothing to read on it (an
        idle connection that is readable was closed by its peer, or holds garbage)."""
        if self.closed or self.fileno < 0:
            return False
        try:
            readable, _, _ = select.select([self.fileno], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpTransport:
    """HTTP/1.1 over pooled keep-alive connections, one pool per address."""

    def __init__(self, *, max_idle: int = MAX_IDLE_PER_ADDRESS,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle: dict[str, deque[_Connection]] = {}
        self._addresses: dict[str, tuple[str, int, str]] = {}
        self._max_idle = max_idle
        self._idle_seconds = idle_seconds

    async def send(self, base: str, request: OutgoingRequest) -> Response:
        host, port, authority = self._address(base)
        head = _request_head(request, authority)
        connection = await self._connection(base, host, port)
        done = False
        try:
            answer = await connection.exchange(head, request.body, request.method == "HEAD")
            done = True
        finally:
            if done and connection.reusable:
                self._put_back(base, connection)
            else:  # cancelled, timed out or broken mid-answer: the connection is unusable
                connection.close()
        return answer

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()

    def _address(self, base: str) -> tuple[str, int, str]:
        known = self._addresses.get(base)
        if known is None:
            parts = urlsplit(base)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"not an http:// address: {base!r}")
            port = parts.port or 80
            known = (parts.hostname, port, parts.netloc)
            self._addresses[base] = known
        return known

    async def _connection(self, base: str, host: str, port: int) -> _Connection:
        idle = self._idle.get(base)
        if idle:
            stale_before = time.monotonic() - self._idle_seconds
            while idle:
                connection = idle.pop()
                if connection.idle_since > stale_before and connection.still_open():
                    return connection
                connection.close()
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, host, port)
        except OSError as exc:  # refused, unreachable, no such host: nothing was sent
            raise ConnectFailed(f"{host}:{port}: {exc.strerror or exc}") from exc
        return connection

    def _put_back(self, base: str, connection: _Connection) -> None:
        idle = self._idle.get(base)
        if idle is None:
            idle = self._idle[base] = deque()
        if len(idle) >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)


def _request_head(request: OutgoingRequest, authority: str) -> bytes:
    if _NOT_IN_TARGETS.search(request.target):
        raise ValueError(f"{request.target!r} is not a percent-encoded path")
    lines = [f"{request.method} {request.target} HTTP/1.1\r\nhost: {authority}\r\n"]
    for name, value in request.headers.items():
        if any(bad in value or bad in name for bad in _FORBIDDEN_IN_HEADERS):
            raise ValueError(f"header {name!r} holds a line break or NUL")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {len(request.body)}\r\n\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a header or the path is not Latin-1: {exc}") from None
