"""Quiet means every outbox drained and every JetStream consumer caught up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from msa.checks import CheckSuite, messaging_quiet
from msa.tools.runner.nats import NatsServer
from msa.tools.runner.ports import free_port


class FakeAccess:
    """Answers `/internal/outbox` with a given number of unpublished rows per service."""

    def __init__(self, unpublished: dict[str, int]) -> None:
        self.unpublished = unpublished
        self.asked: list[str] = []

    async def get(self, service: str, path: str, **params: Any) -> Any:
        assert path == "/internal/outbox"
        self.asked.append(service)
        return {"unpublished": self.unpublished[service], "oldest_unpublished_seconds": 0.0}


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    server = NatsServer(tmp_path / "nats", port=free_port(), monitor_port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


async def test_an_outbox_with_unpublished_rows_is_busy() -> None:
    access = FakeAccess({"catalog": 0, "orders": 3})

    busy = await messaging_quiet(["catalog", "orders"], None)(access)  # type: ignore[arg-type]

    assert busy == "orders's outbox has 3 unpublished event(s)"
    assert access.asked == ["catalog", "orders"]


async def test_a_consumer_with_undelivered_or_unacknowledged_messages_is_busy(
        nats_url: str) -> None:
    access = FakeAccess({"orders": 0})
    quiet = messaging_quiet(["orders"], nats_url)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        subscription = await js.pull_subscribe("orders.>", durable="notifications")
        assert await quiet(access) is None  # type: ignore[arg-type]

        await js.publish("orders.order.confirmed.v1", b"{}")
        await js.publish("orders.order.confirmed.v1", b"{}")
        assert await quiet(access) == (  # type: ignore[arg-type]
            "consumer notifications on ORDERS: 2 undelivered, 0 unacknowledged")

        fetched = await subscription.fetch(2, timeout=2)
        assert await quiet(access) == (  # type: ignore[arg-type]
            "consumer notifications on ORDERS: 0 undelivered, 2 unacknowledged")

        for message in fetched:
            await message.ack_sync()
        assert await quiet(access) is None  # type: ignore[arg-type]
    finally:
        await nc.close()


async def test_wait_quiet_asks_the_platform_conditions_after_the_systems_own() -> None:
    calls: list[str] = []

    async def system_quiet(access: Any) -> str | None:
        calls.append("system")
        return None

    async def outbox_busy(access: Any) -> str | None:
        calls.append("outbox")
        return "orders's outbox has 1 unpublished event(s)"

    suite = CheckSuite(checks=[], quiet=system_quiet)

    busy = await suite.wait_quiet(None, 0, also=[outbox_busy])  # type: ignore[arg-type]

    assert busy == "orders's outbox has 1 unpublished event(s)"
    assert calls == ["system", "outbox"]
