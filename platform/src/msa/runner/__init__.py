"""The local runner behind `msa up`: embedded PostgreSQL, NATS JetStream and every
service process of a system, supervised and restarted with backoff.

`Runner` is the programmatic entry point (the CLI and the test fixtures use it);
`state.json` in the data folder lets other processes see what runs.
"""

from msa.runner.plan import MODES, Mode
from msa.runner.state import InstanceState, RunnerState, ServerState, read_state, running_state
from msa.runner.supervisor import Runner, default_data_dir

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
