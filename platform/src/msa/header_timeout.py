"""Close connections that do not finish sending a request's headers in time.

uvicorn times out idle keep-alive connections, but not a connection that opened
and then sends its headers slowly or never (slowloris): each holds a socket and a
slot of the connection cap for as long as the client likes. `HeaderTimeoutProtocol`
is uvicorn's httptools protocol with one more timer: armed when a connection opens
and when a request begins, cancelled once the headers are complete; when it fires
the connection is closed. `python -m msa.serve` uses it with `MSA_HEADER_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a deadline for each request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with(timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class with `timeout` seconds for headers (uvicorn takes a class)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": timeout})
