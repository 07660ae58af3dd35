"""Figure 4: events, commit to effect, through outbox → NATS → inbox; and raw nats-py.

Book-created events are written to catalog's outbox with the platform's own
`emit`, one per transaction, as catalog does; catalog's relay publishes them and
inventory's consumer handles each (its stock row exists, so the effect is the inbox
row and nothing else). Latency runs from our commit to inventory's inbox row
(`processed_at`, PostgreSQL's clock on the same machine). The maximum sustained
rate is a burst written 100 events per transaction, from the first commit to the
last inbox row. The comparison is nats-py alone on the same NATS server: JetStream
publish with its ack, to a pull consumer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from bench.stats import percentile
from msa.tools.runner import Runner
from msa.tools.runner.databases import superuser_connection


async def run(runner: Runner, books: list[dict[str, Any]], rate: float, seconds: float,
              burst: int) -> dict[str, Any]:
    from sqlalchemy.ext.asyncio import create_async_engine

    url = runner.database_url("catalog").replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, pool_size=4)
    try:
        committed = await _paced(engine, books, rate, seconds)
        latency = await _effects(runner, committed, timeout=60)
        began = time.time()
        sent = await _burst(engine, books, burst)
        done = await _effects(runner, sent, timeout=120)
        last = max(began + ms / 1000 for ms in done.values()) if done else None
    finally:
        await engine.dispose()
    raw = await _raw_nats(runner.nats_url, rate, seconds, burst)
    values = list(latency.values())
    return {
        "outbox": {"events": len(committed), "rate": rate,
                   "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
                   "arrived": len(latency),
                   "max_per_second": burst / (last - began) if last and last > began else None,
                   "burst": burst, "burst_arrived": len(done)},
        "raw_nats": raw,
        "latencies_ms": values}


def _event(book: dict[str, Any]) -> Any:
    from catalog.contracts import BookCreated

    return BookCreated(book_id=uuid.UUID(book["id"]), isbn="9780000000002",
                       title="bench", author="bench", price_cents=int(book["price"]))


async def _paced(engine: Any, books: list[dict[str, Any]], rate: float,
                 seconds: float) -> dict[uuid.UUID, float]:
    """One event per transaction at `rate`; event id → commit time (epoch seconds)."""
    from msa.messaging.outbox import emit

    committed: dict[uuid.UUID, float] = {}
    began = time.perf_counter()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
        async with engine.begin() as conn:
            event_id = await emit(conn, _event(books[n % len(books)]))
        committed[event_id] = time.time()
    return committed


async def _burst(engine: Any, books: list[dict[str, Any]], count: int) -> dict[uuid.UUID, float]:
    from msa.messaging.outbox import emit

    sent: dict[uuid.UUID, float] = {}
    for start in range(0, count, 100):
        async with engine.begin() as conn:
            ids = [await emit(conn, _event(books[n % len(books)]))
                   for n in range(start, min(count, start + 100))]
        now = time.time()
        sent.update(dict.fromkeys(ids, now))
    return sent


async def _effects(runner: Runner, committed: dict[uuid.UUID, float],
                   timeout: float) -> dict[uuid.UUID, float]:
    """Event id → ms from commit to inventory's inbox row, waiting for them to arrive."""
    conn = await superuser_connection(runner.servers.postgres, "inventory")
    deadline = time.monotonic() + timeout
    found: dict[uuid.UUID, float] = {}
    try:
        while len(found) < len(committed) and time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT event_id, extract(epoch FROM processed_at) AS at FROM msa_inbox "
                "WHERE event_id = ANY($1::uuid[])", list(committed))
            found = {row["event_id"]: (float(row["at"]) - committed[row["event_id"]]) * 1000
                     for row in rows}
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    return found


async def _raw_nats(url: str, rate: float, seconds: float, burst: int) -> dict[str, Any]:
    import nats

    client = await nats.connect(url)
    stream = f"BENCH_RAW_{uuid.uuid4().hex[:6]}"
    subject = f"bench.raw.{stream.lower()}"
    try:
        js = client.jetstream()
        await js.add_stream(name=stream, subjects=[subject])
        consumer = await js.pull_subscribe(subject, durable=f"{stream}-reader")
        arrivals: dict[int, float] = {}

        async def read(expected: int) -> None:
            while len(arrivals) < expected:
                try:
                    messages = await consumer.fetch(100, timeout=1)
                except TimeoutError:
                    continue
                for message in messages:
                    arrivals[int(message.data.split(b" ")[0])] = time.time()
                    await message.ack()

        reader = asyncio.create_task(read(int(rate * seconds) + burst))
        sent: dict[int, float] = {}
        began = time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            sent[n] = time.time()
            await js.publish(subject, f"{n} {'x' * 200}".encode())
        first = int(rate * seconds)
        burst_began = time.time()
        pending = [js.publish(subject, f"{n} {'x' * 200}".encode())
                   for n in range(first, first + burst)]
        for start in range(0, len(pending), 256):
            await asyncio.gather(*pending[start:start + 256])
        await asyncio.wait_for(reader, 120)
        latencies = [(arrivals[n] - at) * 1000 for n, at in sent.items() if n in arrivals]
        last = max(arrivals[n] for n in range(first, first + burst))
        await js.delete_stream(stream)
    finally:
        await client.close()
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "events": len(latencies), "max_per_second": burst / (last - burst_began)}
