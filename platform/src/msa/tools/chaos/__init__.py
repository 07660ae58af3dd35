"""Fault injection with invariant checking: `msa chaos`.

A run drives the system's own workload (system.toml's `workload`) through the
gateway from several clients while it injects faults drawn from a seed: killed and
paused service processes, a killed NATS, PostgreSQL shut down in immediate mode,
slow and broken database and NATS links (through `proxy.FaultProxy`), and
duplicate event delivery. Then it heals everything, waits until the system is
quiet and runs the system's invariants (`checks`) and the workload's own checks.

- `schedule`: profiles and the seeded fault schedule (a pure function);
- `proxy`: the TCP fault proxy; `target`: starting or attaching to the system;
- `control`, `inject`, `redeliver`: carrying out the faults;
- `record`, `workload`: the operations clients make and the workload contract;
- `harness`: the run; `report`: its JSON report and summary.
"""

from msa.tools.chaos.harness import ChaosOptions, make_schedule, run_chaos
from msa.tools.chaos.record import Outcome, Recorder
from msa.tools.chaos.schedule import FAULT_KINDS, PROFILES, FaultEvent, Schedule, plan
from msa.tools.chaos.workload import Answer, Workload, WorkloadContext

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "Answer",
    "ChaosOptions",
    "FaultEvent",
    "Outcome",
    "Recorder",
    "Schedule",
    "Workload",
    "WorkloadContext",
    "make_schedule",
    "plan",
    "run_chaos",
]
