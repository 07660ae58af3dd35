"""How a saga is declared: its steps, their actions and compensations."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from msa.one_statement import OneStatement
    from msa.runtime import Runtime


class StepFailed(Exception):
    """A step definitely failed (e.g. the participant refused): compensate."""


class SagaRefused(StepFailed):
    """Raised by a step to end the saga with a business reason (e.g. out of stock)."""


@dataclass
class SagaContext:
    """What a step's action or compensation receives."""

    saga_id: uuid.UUID
    data: dict[str, Any]
    runtime: Runtime
    key: str
    attempt: int
    conn: AsyncConnection | None = None  # set for local steps: the recording transaction

    @property
    def reference(self) -> str:
        return str(self.saga_id)


Action = Callable[[SagaContext], Awaitable[dict[str, Any] | None]]
Compensation = Callable[[SagaContext], Awaitable[None]]
Finish = Callable[[AsyncConnection, "SagaContext", str], Awaitable[None]]


def _nothing(row: dict[str, Any] | None) -> None:
    return None


@dataclass(frozen=True)
class LocalStatement:
    """A local step whose whole effect is ONE statement: written with the saga's record
    of it in one round trip, with no BEGIN and COMMIT.

    `statement` is read as in `msa.OneStatement`: its `row` yields one row when the
    statement changed something, and only then are its `events` written (their fields
    of the same names filled from the row); no row means there was nothing left to do
    (done before). Either way the step is recorded done with `statement.answer` as its
    result, and `done(row)` runs after the commit with the row (a dict) or None. Should
    the driver have lost the saga meanwhile, the whole statement fails and nothing of
    it is written.
    """

    statement: OneStatement
    done: Callable[[dict[str, Any] | None], None] = _nothing


@dataclass(frozen=True)
class Step:
    """One step. `local` steps run inside the transaction that records them.

    A step with no compensation is a pivot: once it is done the saga can only go
    forward, and the steps after it are retried until they succeed. A local step may
    also give `usual`: its effect as one statement (see `LocalStatement`), which the
    engine writes together with the step's record; `action` then serves the steps
    that end a saga with an `on_completed`.
    """

    name: str
    action: Action
    compensation: Compensation | None = None
    local: bool = False
    deadline: float = 5.0  # seconds to keep retrying transient failures before compensating
    usual: Callable[[SagaContext], LocalStatement] | None = None


@dataclass(frozen=True)
class SagaDefinition:
    """A named sequence of steps, with hooks run when it ends.

    `on_completed(conn, ctx, "")` and `on_compensated(conn, ctx, reason)` run in
    the transaction that records the end state.
    """

    name: str
    steps: tuple[Step, ...]
    on_completed: Finish | None = None
    on_compensated: Finish | None = None
    lease_seconds: float = 10.0
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(step.name for step in self.steps))
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"saga {self.name}: step names must be unique")

    @property
    def lease(self) -> float:
        """Seconds a driver holds one of these sagas: enough for its slowest step and a
        margin. Another replica takes a saga over only once its lease has run out."""
        slowest = max((step.deadline for step in self.steps), default=0.0)
        return max(self.lease_seconds, slowest + 5.0)

    def pivot_passed(self, step_index: int) -> bool:
        """True when a step before `step_index` cannot be compensated."""
        return any(step.compensation is None for step in self.steps[:step_index])
