"""The saga engine: starts, drives, recovers and fences sagas."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import asyncpg
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import deadline, faults, tracing
from msa.client import RemoteProblem, ServiceCallError
from msa.db import autocommit, columns, driver, renumbered
from msa.messaging.outbox import (
    HeldEvent,
    HeldWrite,
    filled,
    hold_write,
    holding_events,
    with_held_events,
)
from msa.metrics import (
    SAGA_STEP_FAILURES,
    SAGA_STEP_LATENCY,
    SAGAS_ENDED,
    SAGAS_IN_FLIGHT,
    SAGAS_STARTED,
)
from msa.one_statement import run_in_one_statement
from msa.sagas.definition import SagaContext, SagaDefinition, Step, StepFailed
from msa.sagas.group_commit import GroupCommit, Record, Save
from msa.tasks import stop_tasks

if TYPE_CHECKING:
    from msa.runtime import Runtime

_log = logging.getLogger("msa.sagas")
ACTIVE = ("running", "compensating")
TERMINAL = ("completed", "compensated", "failed")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
STARTED_KEPT = 1024  # states of sagas started here and not yet driven (a start rolled back
                     # with its transaction is never driven: its state is dropped in time)

SAGA_LEASES_LOST = Counter(
    "msa_saga_leases_lost_total",
    "Writes refused because another driver had taken the saga over (nothing recorded)",
    ["service", "saga"],
)


@dataclass(frozen=True)
class StartInStatement:
    """A saga's start written by another's one statement (`SagaEngine.start_in_statement`):
    the `write` to add to it, and `written` to call with the fields it filled once it
    has written them."""

    write: HeldWrite
    written: Callable[[dict[str, Any]], None]


@dataclass
class _State:
    id: uuid.UUID
    name: str
    status: str
    step: int
    data: dict[str, Any]
    error: str | None
    attempts: int
    fence: int
    # steps done since the last durable write, recorded with the next one (see _advance)
    unrecorded: tuple[Record, ...] = ()
    written: float = dataclasses.field(default_factory=time.monotonic)  # last write (monotonic)


class _LeaseLost(Exception):
    """This driver no longer holds the saga: its transaction is rolled back unrecorded."""


class SagaEngine:
    """Drives the sagas of one service replica."""

    def __init__(self, runtime: Runtime, definitions: list[SagaDefinition]) -> None:
        self.runtime = runtime
        self.definitions = {d.name: d for d in definitions}
        self.instance = runtime.settings.instance_name
        self.owner = f"{self.instance}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._tasks: dict[uuid.UUID, asyncio.Task[str]] = {}
        self._started: dict[uuid.UUID, _State] = {}  # started here, not yet driven
        self._group = GroupCommit(runtime.db, self.owner)
        self._limit = asyncio.Semaphore(128)

    # -- starting ------------------------------------------------------------

    async def start(self, conn: AsyncConnection, name: str, data: dict[str, Any],
                    saga_id: uuid.UUID | None = None) -> uuid.UUID:
        """Record a new saga in the caller's transaction, leased to this replica.

        Call `run(saga_id)` after the transaction commits to drive it at once;
        if this process dies first, the recovery loop of any replica picks it up.
        """
        saga_id = saga_id or uuid.uuid4()
        data, row = self._start_row(name, data, saga_id)
        if not hold_write(conn, _START, row):  # else written with the request's key
            await (await driver(conn)).execute(_START, *row)
        self._written(saga_id, name, data)
        return saga_id

    def start_in_statement(self, name: str, data: dict[str, Any], saga_id: uuid.UUID,
                           fill_from: str = "work") -> StartInStatement:
        """A new saga's start as a write of someone else's one statement (for
        `msa.OneStatement.writes`): written only when the relation `fill_from` has its
        row, whose columns fill the fields of `data` of the same names (what the
        statement computed). Once the statement has written it, call the result's
        `written` with those fields (e.g. the stored answer, filled the same way), so
        that `run(saga_id)` drives it without reading it back."""
        data, row = self._start_row(name, data, saga_id)
        statement = _START_FROM.format(data=filled("$3::jsonb", "w"), row=fill_from)

        def written(fields: dict[str, Any]) -> None:
            self._written(saga_id, name, {**data, **{k: v for k, v in fields.items()
                                                     if k in data}})

        return StartInStatement((statement, row), written)

    def _start_row(self, name: str, data: dict[str, Any],
                   saga_id: uuid.UUID) -> tuple[dict[str, Any], tuple[Any, ...]]:
        """The data a new saga starts with (the trace it continues included) and the
        parameters of its row (`_START`)."""
        definition = self.definitions[name]
        trace_context: dict[str, str] = {}
        tracing.inject_headers(trace_context)  # a resumed saga continues its trace
        if trace_context:
            data = {**data, "_trace": trace_context}
        return data, (saga_id, name, _json(data), self.owner, definition.lease)

    def _written(self, saga_id: uuid.UUID, name: str, data: dict[str, Any]) -> None:
        """A saga started here: what was written, so that driving it needs no read
        (dropped if never driven)."""
        self._started[saga_id] = _State(saga_id, name, "running", 0, data, None, 0, 1)
        while len(self._started) > STARTED_KEPT:
            self._started.pop(next(iter(self._started)))
        SAGAS_STARTED.labels(self.runtime.name, name).inc()

    def run(self, saga_id: uuid.UUID, fence: int = 1) -> asyncio.Task[str]:
        """Drive a saga this replica holds in the background; the task ends with its status."""
        existing = self._tasks.get(saga_id)
        if existing is not None and not existing.done():
            return existing
        task = asyncio.create_task(self._guarded_drive(saga_id, fence))
        self._tasks[saga_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(saga_id, None))
        return task

    # -- recovery ------------------------------------------------------------

    async def recover_forever(self, interval: float = 0.5) -> None:
        """Claim sagas whose driver is gone (lease expired) and drive them."""
        first = True
        while True:
            try:
                for saga_id, fence in await self._claim(reclaim_own=first):
                    self.run(saga_id, fence)
                first = False
            except Exception:
                _log.warning("saga recovery pass failed", exc_info=True)
            await asyncio.sleep(interval)

    async def _claim(self, reclaim_own: bool) -> list[tuple[uuid.UUID, int]]:
        """Take over up to 32 sagas whose lease ran out (and, on the first pass, those
        of a previous incarnation of this replica), in one statement."""
        lease = max(d.lease for d in self.definitions.values())
        async with autocommit(self.runtime.db) as raw:
            rows = await raw.fetch(_CLAIM, self.owner, lease, list(ACTIVE), reclaim_own,
                                   f"{self.instance}:", list(self.definitions),
                                   list(self._tasks))
        return [(row["id"], row["fence"]) for row in rows]

    # -- driving -------------------------------------------------------------

    async def _guarded_drive(self, saga_id: uuid.UUID, fence: int) -> str:
        deadline.clear()  # a saga outlives the request that started it
        async with self._limit:
            try:
                return await self._drive(saga_id, fence)
            except _LeaseLost:
                _log.info("saga %s: lease lost to another driver", saga_id)
                return "lease-lost"
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("saga %s: driver failed; recovery will resume it", saga_id)
                return "error"

    async def _drive(self, saga_id: uuid.UUID, fence: int) -> str:
        started = self._started.pop(saga_id, None)
        state = started if started is not None and fence == 1 else await self._load(saga_id,
                                                                                       fence)
        if state is None:
            raise _LeaseLost
        definition = self.definitions[state.name]
        gauge = SAGAS_IN_FLIGHT.labels(self.runtime.name, state.name)
        gauge.inc()
        try:
            while state.status in ACTIVE:
                with self._step_span(definition, state):
                    if state.status == "running":
                        state = await self._forward(definition, state)
                    else:
                        state = await self._backward(definition, state)
            return state.status
        finally:
            gauge.dec()

    def _step_span(self, definition: SagaDefinition, state: _State) -> Any:
        """A span around one attempt of the next step (or compensation)."""
        step = definition.steps[state.step].name if 0 <= state.step < len(definition.steps) \
            else "end"
        direction = "action" if state.status == "running" else "compensation"
        # driven by recovery (no request around it): continue the trace it started in
        parent = None if tracing.in_trace() else tracing.context_from(state.data.get("_trace"))
        return tracing.span(self.runtime.name, f"saga {definition.name}.{step} {direction}",
                            parent=parent, attributes={
                                "saga.id": str(state.id), "saga.step": step,
                                "saga.direction": direction})

    async def _forward(self, definition: SagaDefinition, state: _State) -> _State:
        step = definition.steps[state.step]
        started = time.monotonic()
        step_started = float(state.data.get("_step_started") or time.time())
        if "_step_started" not in state.data:
            state.data["_step_started"] = step_started
        ctx = self._context(state, step, undo=False)
        last = state.step + 1 >= len(definition.steps)
        if step.usual is not None and not (definition.on_completed and last):
            return await self._local_in_one_statement(definition, state, step, started)
        if step.local:
            try:
                async with self.runtime.db.begin() as conn:
                    ctx.conn = conn
                    with holding_events(conn) as events:  # written with the step's record
                        result = await step.action(ctx)
                    faults.point(f"saga.{step.name}.done")  # done, not committed: rolled back
                    return await self._advance(conn, definition, state, step, result, started,
                                               events=events)
            except StepFailed as exc:
                return await self._fail(definition, state, step, str(exc), started, "refused")
        try:
            result = await step.action(ctx)
        except (StepFailed, ServiceCallError) as exc:
            if _definite(exc):
                return await self._fail(definition, state, step, _reason(exc), started,
                                        "refused")
            expired = time.time() - step_started > step.deadline
            if expired and not definition.pivot_passed(state.step):
                reason = f"{step.name}: no answer within {step.deadline:g}s ({_reason(exc)})"
                return await self._fail(definition, state, step, reason, started, "deadline")
            return await self._retry_later(state, step, "action", _reason(exc), started)
        faults.point(f"saga.{step.name}.done")  # the step took effect; not yet recorded
        if definition.on_completed and state.step + 1 >= len(definition.steps):
            async with self.runtime.db.begin() as conn:
                return await self._advance(conn, definition, state, step, result, started)
        return await self._advance(None, definition, state, step, result, started,
                                   defer=self._may_defer(definition, state))

    async def _backward(self, definition: SagaDefinition, state: _State) -> _State:
        if state.step < 0:
            async with self.runtime.db.begin() as conn:
                state.status = "compensated"
                await self._save(conn, state)
                if definition.on_compensated:
                    ctx = self._context(state, definition.steps[0], undo=True, conn=conn)
                    await definition.on_compensated(conn, ctx, state.error or "")
            SAGAS_ENDED.labels(self.runtime.name, definition.name, "compensated").inc()
            return state
        step = definition.steps[state.step]
        started = time.monotonic()
        if step.compensation is None or faults.broken(faults.COMPENSATION_OFF):
            skipped = _moved(state, step=state.step - 1)
            await self._save(None, skipped)
            return skipped
        ctx = self._context(state, step, undo=True)
        undone = _moved(state, step=state.step - 1, attempts=0)
        record = _record(step.name, "compensation", "ok", None)
        try:
            if step.local:
                async with self.runtime.db.begin() as conn:
                    ctx.conn = conn
                    await step.compensation(ctx)
                    await self._save(conn, undone, record)
            else:
                await step.compensation(ctx)
                faults.point(f"saga.{step.name}.undone")
                await self._save(None, undone, record)
        except (StepFailed, ServiceCallError) as exc:
            # compensations must succeed eventually: retry, never give up
            return await self._retry_later(state, step, "compensation", _reason(exc), started)
        self._observe(definition, step, "compensation", "ok", started)
        return undone

    def _may_defer(self, definition: SagaDefinition, state: _State) -> bool:
        """Whether a remote step just done may go unrecorded until the saga's next write.

        Recording it is not what makes recovery exact: a driver that resumes the saga
        from its last recorded step calls the unrecorded steps again with the same
        idempotency keys, and the participants answer from their records (they did
        the work once). So the record of a successful remote step that is not the
        last is written with the next durable write of the saga (the next local
        step's transaction, a failure, a retry, the end), saving one write per step.
        Only while the lease has plenty left: each write renews it, and a driver
        that writes nothing for a third of it writes again.
        """
        return (state.step + 1 < len(definition.steps)
                and time.monotonic() - state.written < definition.lease / 3)

    async def _advance(self, conn: AsyncConnection | None, definition: SagaDefinition,
                       state: _State, step: Step, result: dict[str, Any] | None,
                       started: float, defer: bool = False,
                       events: list[HeldEvent] | None = None) -> _State:
        """Record the step done and move to the next one, in one statement (within
        `conn`'s transaction, or on its own when `conn` is None), or only in memory
        when `defer` (see `_may_defer`)."""
        advanced = self._advanced(definition, state, step, result or {})
        done = advanced.status == "completed"
        record = _record(step.name, "action", "ok", None)
        if defer:
            advanced.unrecorded = (*state.unrecorded, record)
            self._observe(definition, step, "action", "ok", started)
            return advanced
        await self._save(conn, advanced, record, events=events)
        if done:
            if definition.on_completed:
                assert conn is not None
                await definition.on_completed(conn, self._context(advanced, step, conn=conn),
                                              "")
            SAGAS_ENDED.labels(self.runtime.name, definition.name, "completed").inc()
        self._observe(definition, step, "action", "ok", started)
        return advanced

    @staticmethod
    def _advanced(definition: SagaDefinition, state: _State, step: Step,
                  result: dict[str, Any]) -> _State:
        """`state` moved past `step`, its result kept in the saga's data."""
        data = {**state.data, step.name: result}
        data.pop("_step_started", None)
        done = state.step + 1 >= len(definition.steps)
        return _moved(state, status="completed" if done else "running",
                      step=state.step + 1, data=data, attempts=0)

    async def _local_in_one_statement(self, definition: SagaDefinition, state: _State,
                                      step: Step, started: float) -> _State:
        """A local step given as one statement (`Step.usual`), written with its record,
        the saga's move to the next step and the step's events in ONE statement, only
        while this driver holds the saga (see `LocalStatement`)."""
        assert step.usual is not None
        local = step.usual(self._context(state, step))
        usual = local.statement
        advanced = self._advanced(definition, state, step, dict(usual.answer))
        records = (*state.unrecorded, _record(step.name, "action", "ok", None))
        saved = renumbered(_SAVE_CTES, len(usual.args) + 1)
        save_args = [*self._save_args(advanced, 0.0, definition.lease), *columns(records, 5)]
        try:
            # the division fails the whole statement, the step's effect with it, when
            # the saga is no longer this driver's (no row updated by `saved`)
            row = await run_in_one_statement(
                self.runtime, usual, [saved], save_args,
                "SELECT 1 / (SELECT count(*)::int FROM saved), "
                "(SELECT to_jsonb(w)::text FROM work w)")
        except asyncpg.DivisionByZeroError:
            self._lost(state)
        assert row is not None
        advanced.unrecorded, advanced.written = (), time.monotonic()
        faults.point(f"saga.{step.name}.done")  # done and recorded; the driver goes on
        local.done(None if row[1] is None else json.loads(row[1]))
        if advanced.status == "completed":
            SAGAS_ENDED.labels(self.runtime.name, definition.name, "completed").inc()
        self._observe(definition, step, "action", "ok", started)
        return advanced

    async def _fail(self, definition: SagaDefinition, state: _State, step: Step, reason: str,
                    started: float, cause: str) -> _State:
        """A step failed for good: compensate it and every step before it.

        `cause` is `refused` (a participant's definite no: a business outcome) or
        `deadline` (no answer in time: a failure of the system, which SLOs count).
        """
        self._observe(definition, step, "action", "failed", started)
        SAGA_STEP_FAILURES.labels(self.runtime.name, definition.name, step.name, cause).inc()
        if definition.pivot_passed(state.step):
            failed = _moved(state, status="failed", error=reason, attempts=0)
            SAGAS_ENDED.labels(self.runtime.name, definition.name, "failed").inc()
        else:
            # the failed step itself may have taken effect (a late arrival): undo it too
            failed = _moved(state, status="compensating", error=reason, attempts=0)
        await self._save(None, failed, _record(step.name, "action", "failed", reason))
        return failed

    async def _retry_later(self, state: _State, step: Step, direction: str, reason: str,
                           started: float) -> _State:
        definition = self.definitions[state.name]
        self._observe(definition, step, direction, "retry", started)
        attempts = state.attempts + 1
        delay = min(2.0, 0.05 * 2 ** min(attempts, 8)) * random.uniform(0.5, 1.5)
        error = f"retrying {step.name}: {reason}" if direction == "action" else state.error
        # what is written: the error shows why it waits; `state.error` keeps the reason
        # the saga compensates for (the end state's reason)
        waiting = _moved(state, attempts=attempts, error=error)
        await self._save(None, waiting, delay=delay)
        state.attempts, state.unrecorded, state.written = attempts, (), waiting.written
        await asyncio.sleep(delay)
        return state

    # -- persistence ---------------------------------------------------------

    async def _load(self, saga_id: uuid.UUID, fence: int) -> _State | None:
        async with autocommit(self.runtime.db) as raw:
            row = await raw.fetchrow(_LOAD, saga_id, self.owner, fence)
        if row is None:
            return None
        return _State(row["id"], row["saga_type"], row["status"], row["step"],
                      json.loads(row["data"]), row["error"], row["attempts"], row["fence"])

    async def _save(self, conn: AsyncConnection | None, state: _State,
                    record: Record | None = None, delay: float = 0.0,
                    events: list[HeldEvent] | None = None) -> None:
        """Write the saga's state, with the records of the steps done since the last
        write and `record` if given, in ONE statement — only if this driver still
        holds the saga (owner and fence). `state` then has nothing unrecorded.
        Within `conn`'s transaction, `events` (held while a local step ran) are
        written by the same statement.

        Inside `conn`'s transaction, or on its own when `conn` is None: then with
        the saves other drivers make at the same moment (`GroupCommit`). Every write
        also renews the lease for one more step, so driving a saga costs one
        statement per step and no separate lease round trips.
        `delay` holds a retry back from the recovery loop for that long.
        """
        lease = self.definitions[state.name].lease
        records = (*state.unrecorded, record) if record is not None else state.unrecorded
        if conn is None:  # on its own: written together with other drivers' saves
            saved = await self._group.save(Save(
                state.id, state.fence, state.status, state.step, _json(state.data),
                state.error, state.attempts, delay, lease, records))
        else:
            args = self._save_args(state, delay, lease)
            statement = _SAVE
            if records:
                statement = _SAVE_AND_RECORD
                args += columns(records, 5)
                if events:
                    statement = _SAVE_RECORD_AND_EVENTS
                    args += columns(events, 5)
            elif events:
                raise ValueError("held events are written with a step's record")
            saved = await (await driver(conn)).fetchval(statement, *args)
        state.unrecorded, state.written = (), time.monotonic()
        if not saved:
            self._lost(state)

    def _save_args(self, state: _State, delay: float, lease: float) -> list[Any]:
        """The parameters of `_UPDATE`: `state` written if this driver still holds it."""
        return [state.id, self.owner, state.fence, state.status, state.step,
                _json(state.data), state.error, state.attempts, delay, lease]

    def _lost(self, state: _State) -> NoReturn:
        SAGA_LEASES_LOST.labels(self.runtime.name, state.name).inc()
        _log.warning("saga %s: lease lost (fence %d is no longer %s's); nothing recorded",
                     state.id, state.fence, self.owner)
        raise _LeaseLost

    def _context(self, state: _State, step: Step, undo: bool = False,
                 conn: AsyncConnection | None = None) -> SagaContext:
        key = f"{state.id}:{step.name}" + (":undo" if undo else "")
        return SagaContext(state.id, state.data, self.runtime, key, state.attempts, conn)

    def _observe(self, definition: SagaDefinition, step: Step, direction: str, outcome: str,
                 started: float) -> None:
        SAGA_STEP_LATENCY.labels(self.runtime.name, definition.name, step.name, direction,
                                 outcome).observe(time.monotonic() - started)

    async def close(self) -> None:
        await stop_tasks(list(self._tasks.values()))
        await self._group.close()


def _definite(exc: Exception) -> bool:
    """A refusal that will not change by retrying (4xx), as opposed to a transient failure."""
    if isinstance(exc, RemoteProblem):
        return exc.status is not None and exc.status not in RETRYABLE_STATUS
    return isinstance(exc, StepFailed)


def _reason(exc: Exception) -> str:
    if isinstance(exc, RemoteProblem):
        return exc.detail or str(exc)
    return str(exc)


def _record(step: str, direction: str, outcome: str, detail: str | None) -> Record:
    return (step, direction, outcome, detail, datetime.now(UTC))


def _moved(state: _State, **changes: Any) -> _State:
    """`state` with `changes`: what is written next (the old state stays as it was)."""
    return dataclasses.replace(state, **changes)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_START = (
    "INSERT INTO msa_saga (id, saga_type, status, step, data, owner, lease_until, fence, "
    "attempts) VALUES ($1, $2, 'running', 0, $3::jsonb, $4, "
    "now() + make_interval(secs => $5), 1, 0)"
)
_START_FROM = (
    "INSERT INTO msa_saga (id, saga_type, status, step, data, owner, lease_until, fence, "
    "attempts) SELECT $1, $2, 'running', 0, {data}, $4, now() + make_interval(secs => $5), "
    "1, 0 FROM {row} w"
)
_CLAIM = (
    "UPDATE msa_saga SET owner = $1, fence = fence + 1, "
    "lease_until = now() + make_interval(secs => $2), updated_at = now() "
    "WHERE id IN (SELECT id FROM msa_saga WHERE status = ANY($3::text[]) "
    "AND (lease_until < now() OR ($4 AND starts_with(owner, $5))) "
    "AND next_attempt_at <= now() AND saga_type = ANY($6::text[]) "
    "AND id <> ALL($7::uuid[]) ORDER BY next_attempt_at LIMIT 32 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, fence"
)
_LOAD = (
    "SELECT id, saga_type, status, step, data::text AS data, error, attempts, fence "
    "FROM msa_saga WHERE id = $1 AND owner = $2 AND fence = $3"
)
_UPDATE = (
    "UPDATE msa_saga SET status = $4, step = $5, data = $6::jsonb, error = $7, attempts = $8, "
    "next_attempt_at = now() + make_interval(secs => $9), "
    "lease_until = now() + make_interval(secs => $10), updated_at = now() "
    "WHERE id = $1 AND owner = $2 AND fence = $3 RETURNING id"
)
_SAVE = f"WITH saved AS ({_UPDATE}) SELECT count(*) = 1 FROM saved"
_SAVE_CTES = (
    f"saved AS ({_UPDATE}), recorded AS ("
    "INSERT INTO msa_saga_step (saga_id, step, direction, outcome, detail, driver, fence, "
    "started_at) SELECT saved.id, r.step, r.direction, r.outcome, r.detail, $2, $3, r.at "
    "FROM saved, unnest($11::text[], $12::text[], $13::text[], $14::text[], "
    "$15::timestamptz[]) WITH ORDINALITY AS r(step, direction, outcome, detail, at, n) "
    "ORDER BY r.n RETURNING 1)"
)
_SAVE_AND_RECORD = f"WITH {_SAVE_CTES} SELECT count(*) = 1 FROM saved"
# and the events a local step emitted (its outcome and its events commit together anyway;
# this writes them in the same round trip)
_SAVE_RECORD_AND_EVENTS = with_held_events(_SAVE_AND_RECORD, 16)
