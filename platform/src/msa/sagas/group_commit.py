"""Group commit of saga bookkeeping: the saves of concurrent drivers written together.

A driver that finished a remote step must make its state durable before it goes on
(that is what makes recovery exact), but it need not do so alone. Saves that arrive
while one is being written wait and are written next, all of them in ONE statement
and one commit: the first save of a quiet moment costs no wait, and under load the
number of commits grows far slower than the number of steps. Each save is still
fenced on its own (owner and fence): the statement reports which sagas it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from msa.db import autocommit, columns

Record = tuple[str, str, str, str | None, datetime]
"""A step's record: step, direction, outcome, detail, when."""


@dataclass(frozen=True)
class Save:
    """One saga's next state, and the records of the steps that led to it (if any)."""

    saga_id: uuid.UUID
    fence: int
    status: str
    step: int
    data: str  # JSON
    error: str | None
    attempts: int
    delay: float  # seconds the recovery loop leaves it alone
    lease: float  # seconds this driver holds it from now
    records: tuple[Record, ...]


class GroupCommit:
    """Writes the saves of one driver process (`owner`), together when they coincide."""

    def __init__(self, engine: AsyncEngine, owner: str) -> None:
        self._engine = engine
        self._owner = owner
        self._queue: list[tuple[Save, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.statements = 0  # how many statements wrote how many saves (for tests, metrics)
        self.saves = 0

    async def save(self, save: Save) -> bool:
        """Write `save` durably; False when the saga is no longer this owner's at its fence."""
        written = asyncio.get_running_loop().create_future()
        self._queue.append((save, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="saga-group-commit")
        return await written

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                saved = await self._write(batch)
            except Exception as exc:
                for _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            except asyncio.CancelledError:
                for _, written in [*batch, *self._queue]:
                    written.cancel()
                raise
            for save, written in batch:
                if not written.done():
                    written.set_result(save.saga_id in saved)

    async def _write(self, batch: list[tuple[Save, asyncio.Future[bool]]]) -> set[uuid.UUID]:
        saves = [save for save, _ in batch]
        self.statements += 1
        self.saves += len(saves)
        records = [(s.saga_id, *record) for s in saves for record in s.records]
        async with autocommit(self._engine) as raw:
            rows = await raw.fetch(
                _SAVE_ALL, self._owner,
                [s.saga_id for s in saves], [s.fence for s in saves],
                [s.status for s in saves], [s.step for s in saves], [s.data for s in saves],
                [s.error for s in saves], [s.attempts for s in saves],
                [s.delay for s in saves], [s.lease for s in saves],
                *columns(records, 6))
        return {row["id"] for row in rows}


_SAVE_ALL = """
WITH v AS (
  SELECT * FROM unnest($2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
                       $8::int[], $9::float8[], $10::float8[])
    AS v(id, fence, status, step, data, error, attempts, delay, lease)
), saved AS (
  UPDATE msa_saga s SET status = v.status, step = v.step, data = v.data::jsonb,
         error = v.error, attempts = v.attempts,
         next_attempt_at = now() + make_interval(secs => v.delay),
         lease_until = now() + make_interval(secs => v.lease), updated_at = now()
  FROM v WHERE s.id = v.id AND s.owner = $1 AND s.fence = v.fence
  RETURNING s.id
), recorded AS (
  INSERT INTO msa_saga_step (saga_id, step, direction, outcome, detail, driver, fence,
                             started_at)
  SELECT r.id, r.step, r.direction, r.outcome, r.detail, $1, v.fence, r.at
  FROM unnest($11::uuid[], $12::text[], $13::text[], $14::text[], $15::text[],
              $16::timestamptz[]) WITH ORDINALITY AS r(id, step, direction, outcome, detail,
                                                       at, n)
  JOIN v ON v.id = r.id JOIN saved ON saved.id = r.id
  ORDER BY r.n
)
SELECT id FROM saved
"""
