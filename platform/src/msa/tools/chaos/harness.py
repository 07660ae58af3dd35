"""A chaos run from start to report: workload plus faults, then heal, quiesce and check.

1. start the system behind fault proxies (or attach to a running one), seed it,
   and let the workload prepare its users;
2. run the workload's clients while the schedule's faults are injected;
3. heal everything and wait until every process is up and the system is quiet
   (the suite's `wait_quiet`, every outbox drained and every consumer caught up;
   not quiet in time is itself a violation);
4. let the workload resolve its unknown operations, wait for quiet again, and run
   the system's invariants and the workload's own checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from msa.checks import (
    CheckResult,
    CheckSuite,
    Quiet,
    SystemAccess,
    load_suite,
    messaging_quiet,
)
from msa.errors import ConfigError, MsaError
from msa.system import System
from msa.tools.chaos import report as reporting
from msa.tools.chaos.control import wait_all_up
from msa.tools.chaos.inject import Injector
from msa.tools.chaos.record import Recorder
from msa.tools.chaos.schedule import (
    FAULT_KINDS,
    LINK_KINDS,
    FaultTargets,
    Schedule,
    check_kinds,
    plan,
    profile_named,
)
from msa.tools.chaos.target import ChaosTarget, launch
from msa.tools.chaos.workload import Workload, WorkloadContext, load_workload

Progress = Callable[[str], None]
HEAL_TIMEOUT = 120.0
STOP_GRACE = 60.0


@dataclass
class ChaosOptions:
    """A run's choices; None means the profile's value."""

    seed: int
    profile: str = "short"
    duration: float | None = None
    kinds: Sequence[str] | None = None
    clients: int | None = None
    quiet_timeout: float | None = None
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    """Where a system the harness starts keeps its data (default: a temporary folder)."""


def make_schedule(system: System, options: ChaosOptions, *, attached: bool = False) -> Schedule:
    """The run's schedule (without link faults for an attached system: no proxies there)."""
    kinds = check_kinds(list(FAULT_KINDS if options.kinds is None else options.kinds))
    if attached:
        kinds = tuple(kind for kind in kinds if kind not in LINK_KINDS)
        if not kinds:
            raise ConfigError("link faults need a system that chaos starts (not --attach)")
    return plan(options.seed, profile_named(options.profile), FaultTargets.of(system),
                kinds=kinds, duration=options.duration)


def plugins(system: System) -> tuple[Workload, CheckSuite]:
    """The workload and checks system.toml names."""
    if not system.system.workload:
        raise ConfigError('system.toml names no workload ([system] workload = "module:NAME")')
    if not system.system.checks:
        raise ConfigError('system.toml names no checks ([system] checks = "module:NAME")')
    return load_workload(system.system.workload), load_suite(system.system.checks)


async def run_chaos(system: System, options: ChaosOptions, *,
                    attached: ChaosTarget | None = None,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Run the whole experiment; returns the report (see `msa.tools.chaos.report.build`)."""
    say = progress or (lambda message: None)
    profile = profile_named(options.profile)
    schedule = make_schedule(system, options, attached=attached is not None)
    workload, suite = plugins(system)
    timings: dict[str, float] = {}
    own_dir = None if attached or options.data_dir else Path(tempfile.mkdtemp(prefix="msa-chaos-"))
    target = attached
    try:
        if target is None:
            say(f"starting {system.system.name} ({len(schedule.linked)} services behind "
                "fault proxies)")
            began = time.monotonic()
            data_dir = options.data_dir or own_dir
            assert data_dir is not None
            target = await launch(system, data_dir, linked=schedule.linked,
                                  env_overrides={**workload.env, **options.env_overrides})
            timings["start"] = time.monotonic() - began
        return await _experiment(system, schedule, target, workload, suite, timings, say,
                                 clients=options.clients or profile.clients,
                                 users=profile.users,
                                 quiet_timeout=options.quiet_timeout or profile.quiet_timeout)
    finally:
        if target is not None and attached is None:
            await asyncio.to_thread(target.close)
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


async def _experiment(system: System, schedule: Schedule, target: ChaosTarget,
                      workload: Workload, suite: CheckSuite, timings: dict[str, float],
                      say: Progress, *, clients: int, users: int,
                      quiet_timeout: float) -> dict[str, Any]:
    access = SystemAccess(target.addresses, data_dir=target.data_dir)
    recorder = Recorder()
    results: list[CheckResult] = []
    http = httpx.AsyncClient(base_url=target.gateway_url)
    try:
        await _reachable(http, target.gateway_url)
        ctx = WorkloadContext(http, access, recorder, schedule.seed, clients, users)
        with _timed(timings, "prepare"):
            if system.system.seed:
                from msa.serve import load_factory

                say(await load_factory(system.system.seed)(access))
            await workload.prepare(ctx)
        say(f"{clients} clients for {schedule.duration:g} s with {len(schedule.events)} faults")
        injector = Injector(target, access, recorder.now)
        recorder.phase, origin = "run", recorder.now()
        try:
            with _timed(timings, "run"):
                results += await _fault_phase(ctx, workload, injector, schedule, say)
        finally:
            ctx.stopping.set()
            await injector.heal()  # never leave a process paused or a link broken
        with _timed(timings, "heal"):
            down = await wait_all_up(target.control, HEAL_TIMEOUT)
        results.append(CheckResult("recovery", {"down_after_heal": len(down)}, [
            f"{name} not running and ready {HEAL_TIMEOUT:g}s after healing" for name in down]))
        say("healed; waiting until quiet")
        drained = messaging_quiet(system.publishers, target.nats_url)
        busy, timings["quiesce"] = await _quiet(suite, access, quiet_timeout, drained)
        recorder.phase = "settle"
        with _timed(timings, "settle"):
            await workload.settle(ctx)
            again, _ = await _quiet(suite, access, quiet_timeout, drained)
        results.append(CheckResult("quiesce", {"after_heal_ms": int(timings["quiesce"] * 1000)}, [
            f"not quiet {quiet_timeout:g}s after {what}: {why}"
            for what, why in (("healing", busy), ("settling", again)) if why]))
        recorder.phase = "checks"
        with _timed(timings, "checks"):
            results += await _checks(suite, access, workload, ctx)
            results.append(await _dead_letters(target.nats_url))
        if busy is not None:
            del timings["quiesce"]
        return reporting.build(schedule=schedule, faults=injector.records, recorder=recorder,
                               results=results, timings=timings, origin=origin)
    finally:
        await http.aclose()
        await access.aclose()


async def _fault_phase(ctx: WorkloadContext, workload: Workload, injector: Injector,
                       schedule: Schedule, say: Progress) -> list[CheckResult]:
    """Clients and faults together for the schedule's duration."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    clients = [asyncio.create_task(workload.client(ctx, i)) for i in range(ctx.clients)]
    faults: list[asyncio.Task[Any]] = []
    for event in schedule.events:
        await asyncio.sleep(max(0.0, began + event.at - loop.time()))
        say(f"t={event.at:5.1f}s {event.describe()}")
        faults.append(asyncio.create_task(injector.inject(event)))
    await asyncio.sleep(max(0.0, began + schedule.duration - loop.time()))
    ctx.stopping.set()
    done, stuck = await asyncio.wait(clients, timeout=STOP_GRACE)
    for task in stuck:
        task.cancel()
    await asyncio.gather(*faults)
    crashed = [f"client {i} crashed: {task.exception()!r}" for i, task in enumerate(clients)
               if task in done and task.exception() is not None]
    return [CheckResult("clients", {"clients": len(clients), "stuck": len(stuck)},
                        crashed + [f"{len(stuck)} client(s) did not stop"] * bool(stuck))]


async def _quiet(suite: CheckSuite, access: SystemAccess, timeout: float,
                 drained: Quiet) -> tuple[str | None, float]:
    """(None or what was still busy, seconds waited); unreachable services count as busy."""
    began = time.monotonic()
    busy: str | None = "not asked yet"
    while busy and time.monotonic() - began < timeout:
        try:
            busy = await suite.wait_quiet(access, timeout - (time.monotonic() - began),
                                          also=[drained])
        except MsaError as exc:
            busy = str(exc)
            await asyncio.sleep(1)
    return busy, time.monotonic() - began


async def _checks(suite: CheckSuite, access: SystemAccess, workload: Workload,
                  ctx: WorkloadContext) -> list[CheckResult]:
    found: list[CheckResult] = []
    for name, run in (("invariants", lambda: suite.run(access)),
                      ("workload", lambda: workload.verify(ctx))):
        try:
            found += await run()
        except (MsaError, httpx.HTTPError) as exc:
            found.append(CheckResult(name, {}, [f"could not run: {exc}"]))
    return found


async def _dead_letters(nats_url: str) -> CheckResult:
    """No event of a chaos run is poison: each dead letter is an effect that is missing."""
    from msa import dlq

    try:
        letters = await dlq.list_dead_letters(nats_url)
    except Exception as exc:  # the broker's client raises its own error types
        return CheckResult("dead-letters", {}, [f"could not list dead letters: {exc!r}"])
    return CheckResult("dead-letters", {"dead_letters": len(letters)}, [
        f"{letter.consumer} dead-lettered {letter.event_type} {letter.event_id}: "
        f"{letter.reason[:160]}" for letter in letters])


async def _reachable(http: httpx.AsyncClient, url: str) -> None:
    try:
        response = await http.get("/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise MsaError(f"the gateway at {url} is unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise MsaError(f"the gateway at {url} answered {response.status_code} to /healthz")


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Any:
    began = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - began
