"""`msa up`: start a system in the foreground or in the background, then seed it.

Once everything is ready, the system's seed (system.toml `[system] seed`) runs as
the operator; it is idempotent, so it runs on every `msa up` (`--no-seed` skips
it). A failing seed is one line on stderr and a non-zero exit code, but the
system is left running: with `-d` in the background (`msa down` stops it), in the
foreground until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from msa.errors import MsaError
from msa.tools.commands import DATA_DIR_OPTION, cli_context, console, err_console

if TYPE_CHECKING:
    from msa.tools.runner import Runner, RunnerState
    from msa.tools.runner.seeding import Seed


class ModeChoice(StrEnum):
    process = "process"
    monolith = "monolith"


class EnvChoice(StrEnum):
    dev = "dev"
    test = "test"


def up(
    ctx: typer.Context,
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background."),
    mode: ModeChoice = typer.Option(ModeChoice.process, "--mode",
                                    help="One process per replica, or one for all."),
    gateway_port: int | None = typer.Option(None, "--gateway-port", min=1024, max=65535,
                                            help="Port of the gateway (or the monolith)."),
    workers: int | None = typer.Option(None, "--workers", min=1, max=64,
                                       help="Monolith worker processes, all on the one port "
                                            "(default: $MSA_MONOLITH_WORKERS, else one per "
                                            "core)."),
    data_dir: Path | None = DATA_DIR_OPTION,
    env: EnvChoice = typer.Option(EnvChoice.dev, "--env", help="MSA_ENV of the services."),
    no_seed: bool = typer.Option(False, "--no-seed",
                                 help="Do not run the system's seed once it is ready."),
    with_prometheus: bool = typer.Option(
        False, "--with-prometheus", help="Also run Prometheus scraping every service "
        "(Debian package `prometheus`; foreground only)."),
) -> None:
    """Start PostgreSQL, NATS and every service, supervised; seed; print the URLs."""
    from msa.tools.runner import Runner, read_state, running_state
    from msa.tools.runner.control import clean_leftovers
    from msa.tools.runner.seeding import load_seed

    cli = cli_context(ctx)
    system, data = cli.system(), cli.data_dir(data_dir)
    state = running_state(data)
    if state is not None:
        console.print(f"{system.system.name} is already running from {data} "
                      f"(supervisor pid {state.supervisor_pid}); `msa status` shows it")
        return
    seed = None if no_seed else load_seed(system)
    stale = read_state(data)
    if stale is not None and clean_leftovers(stale, data):
        err_console.print("[dim]stopped processes left running by an earlier run[/]")
    runner = Runner(system, data_dir=data, mode=mode.value, gateway_port=gateway_port,
                    env=env.value, workers=workers)
    runner.check_ports()
    if with_prometheus:
        from msa.tools.monitoring.prometheus import binary

        if detach:
            raise MsaError("--with-prometheus runs with a foreground system only (no -d)")
        if binary() is None:
            raise MsaError("--with-prometheus: prometheus is not installed "
                           "(apt-get install prometheus)")
    if detach:
        _up_detached(runner, seed)
    else:
        _up_foreground(runner, seed, with_prometheus)


class _Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP reached the foreground supervisor."""


def _up_foreground(runner: Runner, seed: Seed | None, with_prometheus: bool = False) -> None:
    from msa.tools.monitoring.prometheus import PrometheusServer, start_for
    from msa.tools.runner.views import watch_progress

    prometheus: PrometheusServer | None = None
    started = time.monotonic()
    interrupted = threading.Event()
    seed_failed = False

    def check() -> None:
        if interrupted.is_set():
            raise _Interrupted
        runner.check()

    try:
        with _signals_set(interrupted):
            runner.start(wait_ready=False)
            state = watch_progress(err_console, runner.status, check, started,
                                   runner.ready_timeout)
            elapsed = time.monotonic() - started
            line, error = _seed_step(runner, seed, check)
            _print_summary(runner, state, elapsed, line)
            if error is not None:
                seed_failed = True
                err_console.print(f"msa: seed failed: {error}; the system keeps running "
                                  "(Ctrl-C stops it)", style="red", highlight=False)
            if with_prometheus:
                prometheus = start_for(runner)
                console.print(f"prometheus: {prometheus.url}")
            err_console.print("[dim]supervising; Ctrl-C stops everything[/]")
            while not interrupted.wait(0.25):
                runner.check()
            raise _Interrupted
    except _Interrupted:
        err_console.print("stopping…")
    finally:
        with _signals_ignored():
            if prometheus is not None:
                prometheus.stop()
            runner.stop()
    if seed_failed:
        raise typer.Exit(1)


def _up_detached(runner: Runner, seed: Seed | None) -> None:
    from msa.runner_state import read_state
    from msa.tools.runner.control import stop_system
    from msa.tools.runner.detached import start_detached
    from msa.tools.runner.logs import last_line
    from msa.tools.runner.views import watch_progress

    assert runner.system.path is not None
    started = time.monotonic()
    gateway_port = int(runner.gateway_url.rsplit(":", 1)[1])
    proc = start_detached(runner.system.path, runner.data_dir, mode=runner.mode,
                          gateway_port=gateway_port, env=runner.env, workers=runner.workers)

    def read() -> RunnerState | None:
        state = read_state(runner.data_dir)
        return state if state is not None and state.supervisor_pid == proc.pid else None

    def check() -> None:
        state = read()
        if state is not None and state.phase == "failed":
            raise MsaError(state.error or "the supervisor failed")
        if proc.poll() is not None:
            hint = last_line(runner.log_dir / "supervisor.log").removeprefix("msa supervisor: ")
            raise MsaError(hint or f"the supervisor exited with code {proc.returncode}")

    try:
        state = watch_progress(err_console, read, check, started, runner.ready_timeout)
    except BaseException:
        stop_system(runner.data_dir)
        raise
    elapsed = time.monotonic() - started
    line, error = _seed_step(runner, seed, check)
    _print_summary(runner, state, elapsed, line)
    console.print(f"[dim]running in the background (supervisor pid {proc.pid}); "
                  "`msa down` stops it[/]")
    if error is not None:
        raise MsaError(f"seed failed: {error}; the system keeps running (`msa down` stops it)")


def _seed_step(runner: Runner, seed: Seed | None,
               check: Callable[[], None]) -> tuple[str | None, str | None]:
    """Run the seed with a spinner: (its summary line, None) or (None, the error)."""
    if seed is None:
        return None, None
    from msa.tools.runner.seeding import run_seed

    result: dict[str, str] = {}

    def work() -> None:
        try:
            result["line"] = run_seed(seed, runner.addresses, runner.data_dir)
        except MsaError as exc:
            result["error"] = str(exc)

    began = time.monotonic()
    worker = threading.Thread(target=work, name="msa-seed", daemon=True)
    with err_console.status(f"seeding ({runner.system.system.seed})…"):
        worker.start()
        while worker.is_alive():
            check()  # Ctrl-C or a failed supervisor stops waiting for the seed
            worker.join(0.1)
    took = time.monotonic() - began
    if "error" in result:
        return None, result["error"]
    return f"{result.get('line', 'done')} ({took:.1f} s)", None


def _print_summary(runner: Runner, state: RunnerState, elapsed: float,
                   seed: str | None) -> None:
    from msa.tools.runner.views import summary

    console.print(summary(state, runner.addresses, str(runner.log_dir), elapsed, seed))


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP set `event` (checked at safe points) instead of raising
    KeyboardInterrupt anywhere, e.g. while a lock is held."""

    def interrupt(signum: int, frame: Any) -> None:
        event.set()

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """A second Ctrl-C must not abandon a half-done stop."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
