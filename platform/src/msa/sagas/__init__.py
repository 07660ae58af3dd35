"""Durable sagas: ordered steps with compensations, persisted, resumable, fenced.

A saga is declared once as ordered `Step`s. Remote steps call another service
with the key `<saga id>:<step>` (compensations `<saga id>:<step>:undo`), so a
repeat after a crash is harmless. Local steps run in the same transaction that
records their outcome, so they happen exactly once. That is also why a successful
remote step need not be recorded before the next one starts: its record is written
with the saga's next write (a local step, a failure, a retry, the end), and a
driver resuming from the last recorded step repeats it with the same key and gets
the participant's stored answer.

Participants must make an action and its compensation commute per reference (a
compensation that arrives first leaves a tombstone that refuses the late action),
because a timed-out call may still arrive. That is why a failed step is itself
compensated along with the steps before it.

State lives in the orchestrating service's database (`msa_saga`, `msa_saga_step`).
One driver at a time: a driver holds a lease (owner, lease_until) and a fence
number; every write is conditional on both, so a paused driver that wakes up after
losing its lease cannot record anything.
"""

from msa.sagas.definition import (
    LocalStatement,
    SagaContext,
    SagaDefinition,
    SagaRefused,
    Step,
    StepFailed,
)
from msa.sagas.engine import SagaEngine

__all__ = [
    "LocalStatement",
    "SagaContext", "SagaDefinition", "SagaEngine", "SagaRefused", "Step", "StepFailed",
]
