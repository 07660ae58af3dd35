"""Gauges that need a query, refreshed by one cheap background task per service.

A scrape never waits on a database or the broker: every `REFRESH_SECONDS` the
task reads the outbox lag (unpublished rows and the age of the oldest), the
sagas not yet ended (count and age of the oldest, per saga type) and each
durable consumer's backlog (JetStream `num_pending` / `num_ack_pending`), and
sets the gauges. The database pool gauges read the pool at scrape time (no I/O).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from msa.events import stream_name
from msa.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_PENDING,
    DB_POOL_CHECKED_OUT,
    DB_POOL_SIZE,
    DEAD_LETTERS,
    OUTBOX_OLDEST,
    OUTBOX_UNPUBLISHED,
    SAGA_OLDEST_ACTIVE,
    SAGAS_ACTIVE,
)

if TYPE_CHECKING:
    from msa.runtime import Runtime

_log = logging.getLogger("msa.tools.monitoring")
REFRESH_SECONDS = 5.0

_ACTIVE_SAGAS = text(
    "SELECT saga_type, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM msa_saga WHERE status IN ('running', 'compensating') GROUP BY saga_type"
)


def start_gauges(runtime: Runtime) -> None:
    """Export the pool gauges and start the refresher (if the service has anything to watch)."""
    name = runtime.name
    if runtime.engine is not None:
        pool: Any = runtime.engine.sync_engine.pool
        DB_POOL_CHECKED_OUT.labels(name).set_function(pool.checkedout)
        DB_POOL_SIZE.labels(name).set_function(pool.size)  # no overflow (msa.db)
    for sub in runtime.definition.consumers:
        DEAD_LETTERS.labels(name, sub.consumer_name(name))  # exported as 0 from the start
    spec = runtime.system.service(name)
    watches_db = runtime.engine is not None and (spec.publishes or runtime.definition.sagas)
    watches_broker = runtime.broker is not None and runtime.definition.consumers
    if watches_db or watches_broker:
        runtime.spawn("metrics-refresh", partial(refresh_forever, runtime))


async def refresh_forever(runtime: Runtime, interval: float = REFRESH_SECONDS) -> None:
    """Refresh the gauges every `interval` seconds until cancelled."""
    while True:
        await refresh(runtime)
        await asyncio.sleep(interval)


async def refresh(runtime: Runtime) -> None:
    """Read the lags once and set the gauges; a part that fails is skipped this round."""
    name = runtime.name
    spec = runtime.system.service(name)
    if runtime.engine is not None and (spec.publishes or runtime.definition.sagas):
        try:
            await _refresh_database(runtime, bool(spec.publishes))
        except Exception as exc:  # the database may be restarting: try again next round
            _log.debug("metrics refresh (database) failed: %s", exc)
    if runtime.broker is not None and runtime.broker.connected:
        for sub in runtime.definition.consumers:
            durable = sub.consumer_name(name)
            stream = stream_name(sub.event_type.split(".", 1)[0])
            try:
                info = await runtime.broker.js.consumer_info(stream, durable, timeout=2)
            except Exception as exc:  # not created yet, or the broker is away
                _log.debug("metrics refresh (consumer %s) failed: %s", durable, exc)
                continue
            CONSUMER_PENDING.labels(name, durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(name, durable).set(info.num_ack_pending or 0)


async def _refresh_database(runtime: Runtime, publishes: bool) -> None:
    from msa.messaging.outbox import outbox_lag

    name = runtime.name
    async with runtime.db.connect() as conn:
        if publishes:
            unpublished, age = await outbox_lag(conn)
            OUTBOX_UNPUBLISHED.labels(name).set(unpublished)
            OUTBOX_OLDEST.labels(name).set(age)
        if runtime.definition.sagas:
            rows = {row[0]: (int(row[1]), float(row[2]))
                    for row in (await conn.execute(_ACTIVE_SAGAS)).all()}
            for saga in runtime.definition.sagas:
                count, age = rows.get(saga.name, (0, 0.0))
                SAGAS_ACTIVE.labels(name, saga.name).set(count)
                SAGA_OLDEST_ACTIVE.labels(name, saga.name).set(age)
