"""What the supervisor thread's event loop runs: start everything, keep it running,
stop it in order (services, then the fork server, then NATS and PostgreSQL); and
the state it starts from."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from msa.runner_state import InstanceState, RunnerState
from msa.system import System
from msa.tools.runner.instances import keep_running, stop_instances
from msa.tools.runner.launcher import Launcher
from msa.tools.runner.plan import InstanceSpec
from msa.tools.runner.processes import Child, create_time
from msa.tools.runner.servers import ServerSet

Mutate = Callable[[Callable[[RunnerState], Any]], None]


async def supervise(
    servers: ServerSet,
    launcher: Launcher,
    specs: Sequence[InstanceSpec],
    databases: list[str],
    mutate: Mutate,
    stop: asyncio.Event,
    launched: Callable[[], None],
    failed: Callable[[Exception], None],
    stop_timeout: float,
) -> None:
    """Run until `stop` is set; `launched()` once every instance has been asked to start.

    An error while starting goes to `failed(exc)` at once; then everything started
    so far is stopped.
    """
    tasks: list[asyncio.Task[None]] = []
    processes: dict[str, Child] = {}
    try:
        launcher.start()  # the fork server imports while PostgreSQL starts
        await servers.start(mutate)
        await servers.provision(databases)
        if not stop.is_set():
            tasks = [asyncio.create_task(keep_running(spec, launcher, processes, mutate, stop))
                     for spec in specs]
            tasks.append(asyncio.create_task(servers.watch(mutate, stop)))
        launched()
        await stop.wait()
    except Exception as exc:
        failed(exc)
    finally:
        mutate(lambda state: state.update(phase="stopping") if state.phase != "failed" else None)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await stop_instances(list(processes.values()), stop_timeout, mutate)
        await launcher.close()
        await servers.stop(mutate)
        mutate(lambda state: state.update(phase="stopped") if state.phase != "failed" else None)



def initial_state(system: System, mode: str, data_dir: Path, gateway_url: str,
                  servers: ServerSet, specs: Sequence[InstanceSpec]) -> RunnerState:
    """The state before anything has started: every server and instance, none running."""
    return RunnerState(
        system=system.system.name, system_file=str(system.path), data_dir=str(data_dir),
        mode=mode, started_at=time.time(), supervisor_pid=os.getpid(),
        supervisor_create_time=create_time(os.getpid()), gateway_url=gateway_url,
        postgres=servers.postgres_state(), nats=servers.nats_state(),
        instances=[InstanceState(spec.name, spec.service, spec.team, spec.port, spec.url,
                                 str(data_dir / "logs" / f"{spec.name}.log"))
                   for spec in specs])
