"""What the clients did and what they were told: every operation with its outcome.

An operation is `ok` (the system said it happened), `failed` (a definite refusal:
a 4xx answer, or a connection that was never made, so nothing was sent) or
`unknown` (a timeout, a cut connection or a 5xx answer: it may or may not have
happened). Unknown operations are what a chaos run must resolve afterwards.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import httpx


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def outcome_of_status(status: int) -> Outcome:
    """2xx/3xx ok; 4xx failed; 5xx unknown (a gateway or service that could not finish)."""
    if status >= 500:
        return Outcome.UNKNOWN
    return Outcome.FAILED if status >= 400 else Outcome.OK


def outcome_of_error(exc: BaseException) -> Outcome:
    """A request that never left is failed; one whose answer was lost is unknown."""
    return Outcome.FAILED if isinstance(exc, _NOT_SENT) else Outcome.UNKNOWN


@dataclass(frozen=True)
class Operation:
    """One client request: what, when (seconds on the recorder's clock), and how it ended."""

    kind: str
    outcome: Outcome
    started: float
    finished: float
    status: int | None = None
    key: str | None = None
    phase: str = "run"
    detail: str = ""

    @property
    def latency(self) -> float:
        return self.finished - self.started


@dataclass
class Recorder:
    """Collects operations; `now()` is seconds since the recorder was made."""

    phase: str = "prepare"
    operations: list[Operation] = field(default_factory=list)
    _origin: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self._origin

    def record(self, kind: str, outcome: Outcome, started: float, *, status: int | None = None,
               key: str | None = None, detail: str = "") -> Operation:
        op = Operation(kind, outcome, started, self.now(), status, key, self.phase, detail[:200])
        self.operations.append(op)
        return op

    def in_phase(self, phase: str) -> list[Operation]:
        return [op for op in self.operations if op.phase == phase]

    def counts(self, phase: str = "run") -> dict[str, dict[str, int]]:
        """kind → outcome → count, for one phase."""
        found: dict[str, Counter[str]] = {}
        for op in self.in_phase(phase):
            found.setdefault(op.kind, Counter())[op.outcome.value] += 1
        return {kind: dict(sorted(counter.items())) for kind, counter in sorted(found.items())}
