"""The local runner behind `msa up`: embedded PostgreSQL, NATS JetStream and every
service process of a system, supervised and restarted with backoff.

`Runner` is the programmatic entry point (the CLI and the test fixtures use it);
`state.json` in the data folder lets other processes see what runs.

The names below are imported on first use, so that importing a submodule (e.g.
the fork server, `python -m msa.tools.runner.zygote`) does not load the supervisor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from msa.runner_state import (
        InstanceState,
        RunnerState,
        ServerState,
        read_state,
        running_state,
    )
    from msa.tools.runner.plan import MODES, Mode
    from msa.tools.runner.supervisor import Runner, default_data_dir

_HOMES = {
    "MODES": "msa.tools.runner.plan",
    "Mode": "msa.tools.runner.plan",
    "InstanceState": "msa.runner_state",
    "RunnerState": "msa.runner_state",
    "ServerState": "msa.runner_state",
    "read_state": "msa.runner_state",
    "running_state": "msa.runner_state",
    "Runner": "msa.tools.runner.supervisor",
    "default_data_dir": "msa.tools.runner.supervisor",
}

__all__ = [
    "MODES",
    "InstanceState",
    "Mode",
    "Runner",
    "RunnerState",
    "ServerState",
    "default_data_dir",
    "read_state",
    "running_state",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'msa.tools.runner' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
