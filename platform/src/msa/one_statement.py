"""The usual case of a piece of work as ONE statement, written in autocommit.

A request (`msa.run_idempotent(..., usual=...)`) or a saga's local step
(`msa.LocalStatement`) may give its usual case as one data-modifying statement; the
platform adds its own bookkeeping (the Idempotency-Key with the answer, or the saga's
record and move) and the events as further CTEs of the same statement. A statement is
a transaction of its own: one round trip, no BEGIN and COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from msa.db import autocommit, columns, renumbered
from msa.events import Event
from msa.messaging.outbox import HeldWrite, held_events_cte, outbox_row
from msa.sqltrace import statement_span

if TYPE_CHECKING:
    from msa.runtime import Runtime


@dataclass(frozen=True)
class OneStatement:
    """The usual case of a request's work as ONE data-modifying statement: its effect,
    the key with the answer, and its events are then written in one round trip, with
    no BEGIN and COMMIT (a statement is a transaction of its own).

    `ctes` are the statement's CTEs (`a AS (...), b AS (...)`, parameters from `$1`,
    `args`); `row` is the SELECT over them that yields ONE row when the work was done
    the usual way, and NONE otherwise: then nothing may have been written, so every
    write must be gated on the usual case (a claim that is new, a row in the state
    expected). The row's columns fill the fields of the same names that `answer` and
    the payloads of `events` carry (what the statement computed, such as a new
    balance: give those fields a placeholder, e.g. None).

    When no row comes back, or PostgreSQL refuses the statement (the key already
    stored: its unique index; a race on a claim), the request runs its `work` in a
    transaction as before, which answers repeats, refusals and the rare cases.

    `writes` are further statements of the platform's (parameters from `$1`, e.g.
    `SagaEngine.start_in_statement`) that read the row as `work` and write only with
    it; `written`, with `run_idempotent`, is called with the stored answer once the
    statement has written it.
    """

    ctes: str
    row: str
    args: Sequence[Any]
    answer: dict[str, Any]
    events: Sequence[Event] = ()
    writes: Sequence[HeldWrite] = ()
    written: Callable[[Any], None] | None = None


async def run_in_one_statement(runtime: Runtime, usual: OneStatement, more: Sequence[str],
                               more_args: Sequence[Any], select: str) -> asyncpg.Record | None:
    """Run `usual`'s CTEs, its row as the CTE `work`, the caller's CTEs `more` (their
    parameters numbered after `usual.args`: `more_args`), `usual`'s events (written
    only when `work` has its row, their fields filled from it) and its `writes`, then
    `select` — one statement in autocommit, inside a transaction span; its first row,
    if any."""
    ctes = [usual.ctes, f"work AS ({usual.row})", *more]
    args = [*usual.args, *more_args]
    if usual.events:
        ctes.append(held_events_cte(len(args) + 1, fill_from="work"))
        engine = runtime.db.sync_engine
        args += columns([outbox_row(engine, event) for event in usual.events], 5)
    for n, (write, values) in enumerate(usual.writes):
        ctes.append(f"held{n} AS ({renumbered(write, len(args) + 1)})")
        args += values
    statement = f"WITH {', '.join(ctes)} {select}"
    with statement_span(runtime.name, runtime.db, statement):
        async with autocommit(runtime.db) as raw:
            return await raw.fetchrow(statement, *args)
