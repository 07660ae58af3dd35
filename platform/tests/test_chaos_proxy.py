"""The TCP fault proxy: plain forwarding, latency, a black hole, cut connections, healing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from msa.tools.chaos.proxy import ProxyHub


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A TCP echo server; yields its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    with ProxyHub() as proxies:
        yield proxies


async def roundtrip(port: int, payload: bytes = b"ping", timeout: float = 2.0
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    return reader, writer, answer


def close(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


async def ended(reader: asyncio.StreamReader) -> bool:
    """Whether the proxy closed or reset this connection (within two seconds)."""
    try:
        return await asyncio.wait_for(reader.read(4), 2) == b""
    except ConnectionResetError:
        return True


async def test_a_healthy_proxy_forwards_both_ways(echo: int, hub: ProxyHub) -> None:
    proxy = hub.add("db", ("127.0.0.1", echo))

    _, writer, answer = await roundtrip(proxy.port, b"hello through the proxy")

    assert answer == b"hello through the proxy"
    close(writer)


async def test_a_slow_link_delays_each_direction(echo: int, hub: ProxyHub) -> None:
    proxy = hub.add("db", ("127.0.0.1", echo))
    hub.set_fault("db", "slow", latency=0.2)

    started = time.monotonic()
    _, writer, answer = await roundtrip(proxy.port)

    assert answer == b"ping"
    assert time.monotonic() - started >= 0.4
    close(writer)


async def test_a_dropping_link_answers_nothing_and_healing_resets_it(echo: int,
                                                                     hub: ProxyHub) -> None:
    proxy = hub.add("db", ("127.0.0.1", echo))
    hub.set_fault("db", "drop")

    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"lost")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(4), 0.5)
    hub.heal("db")

    assert await ended(reader)  # reset: its bytes were lost
    _, again, answer = await roundtrip(proxy.port)
    assert answer == b"ping"
    assert proxy.resets == 1
    close(writer)
    close(again)


async def test_a_cut_link_resets_open_connections_and_refuses_new_ones(echo: int,
                                                                       hub: ProxyHub) -> None:
    proxy = hub.add("nats", ("127.0.0.1", echo))
    reader, writer, _ = await roundtrip(proxy.port)

    hub.set_fault("nats", "cut")

    assert await ended(reader)
    refused_reader, refused = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await ended(refused_reader)
    hub.heal()
    _, healed, answer = await roundtrip(proxy.port)
    assert answer == b"ping"
    for item in (writer, refused, healed):
        close(item)


async def test_the_target_can_be_set_after_the_port_is_known(echo: int,
                                                             hub: ProxyHub) -> None:
    proxy = hub.add("late")
    assert proxy.port > 0

    hub.set_target("late", ("127.0.0.1", echo))

    _, writer, answer = await roundtrip(proxy.port)
    assert answer == b"ping"
    close(writer)
