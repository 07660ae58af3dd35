"""A TCP fault proxy: forwards 127.0.0.1:port to a target, with faults switchable at run time.

Placed between a service and its PostgreSQL or NATS, it can add latency, drop
traffic (a black hole: connections stay open, nothing arrives, callers time out),
or cut connections (reset the open ones and refuse new ones). `heal()` restores
plain forwarding and resets every connection whose traffic was dropped, as its
stream is corrupt.

All proxies live on one event loop in a thread of their own (`ProxyHub`), so they
keep forwarding whatever the caller's threads and loops are doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from msa.tools.runner.ports import HOST

Mode = Literal["pass", "slow", "drop", "cut"]
T = TypeVar("T")
_CHUNK = 65536


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tainted: bool = False
    """Traffic was dropped: the stream is corrupt and must be reset on heal."""

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()


@dataclass(eq=False)
class FaultProxy:
    """One forwarder. Create it through `ProxyHub.add`; switch faults through the hub."""

    name: str
    target: tuple[str, int] | None = None
    mode: Mode = "pass"
    latency: float = 0.0
    port: int = 0
    connections: set[_Connection] = field(default_factory=set)
    accepted: int = 0
    resets: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def set_fault(self, mode: Mode, latency: float = 0.0) -> None:
        """Switch to `mode` (for "slow": `latency` seconds per chunk each way)."""
        self.mode, self.latency = mode, latency if mode == "slow" else 0.0
        if mode == "cut":
            self._reset(list(self.connections))

    def heal(self) -> None:
        """Forward plainly again; reset connections whose traffic was dropped."""
        self.mode, self.latency = "pass", 0.0
        self._reset([conn for conn in self.connections if conn.tainted])

    async def close(self) -> None:
        self._reset(list(self.connections), count=False)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _reset(self, doomed: list[_Connection], count: bool = True) -> None:
        for conn in doomed:
            conn.abort()
            self.connections.discard(conn)
        self.resets += len(doomed) if count else 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        if self.mode == "cut" or self.target is None:
            conn.abort()
            return
        self.accepted += 1
        self.connections.add(conn)
        try:
            up_reader, upstream = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, TimeoutError):
            self._reset([conn], count=False)
            return
        conn.upstream = upstream
        try:
            await asyncio.gather(self._pump(conn, reader, upstream),
                                 self._pump(conn, up_reader, writer))
        finally:
            self.connections.discard(conn)
            conn.abort()

    async def _pump(self, conn: _Connection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if self.mode == "drop":
                    conn.tainted = True
                    continue
                if self.latency:
                    await asyncio.sleep(self.latency)
                if conn.tainted:
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            conn.abort()  # one side ended: end both, as a real connection would


class ProxyHub:
    """Runs fault proxies on an event loop in a daemon thread; thread-safe controls."""

    def __init__(self) -> None:
        self.proxies: dict[str, FaultProxy] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="msa-chaos-proxies",
                                        daemon=True)
        self._thread.start()

    def add(self, name: str, target: tuple[str, int] | None = None) -> FaultProxy:
        """A new proxy listening on a free port (its `port`); `target` may come later."""
        proxy = FaultProxy(name, target)
        self._run(proxy.start())
        self.proxies[name] = proxy
        return proxy

    def set_target(self, name: str, target: tuple[str, int]) -> None:
        self._call(lambda: setattr(self.proxies[name], "target", target))

    def set_fault(self, name: str, mode: Mode, latency: float = 0.0) -> None:
        self._call(lambda: self.proxies[name].set_fault(mode, latency))

    def heal(self, name: str | None = None) -> None:
        """Heal one proxy, or all of them."""
        names = [name] if name else list(self.proxies)

        def heal_all() -> None:
            for item in names:
                self.proxies[item].heal()

        self._call(heal_all)

    def close(self) -> None:
        """Close every proxy and stop the thread."""
        if not self._loop.is_running():
            return
        for proxy in self.proxies.values():
            with contextlib.suppress(Exception):
                self._run(proxy.close())
        with contextlib.suppress(Exception):
            self._run(_cancel_others())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(10)

    def _call(self, action: Callable[[], object]) -> None:
        async def run() -> None:
            action()

        self._run(run())

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _cancel_others() -> None:
    """Cancel what still runs on this loop (pumps of connections just reset)."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
