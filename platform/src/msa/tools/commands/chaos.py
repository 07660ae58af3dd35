"""`msa chaos`: drive the system's workload while injecting faults, then check it held."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from msa.errors import MsaError
from msa.tools.commands import DATA_DIR_OPTION, cli_context, console, err_console

if TYPE_CHECKING:
    from msa.system import System
    from msa.tools.chaos.target import ChaosTarget


def register(app: typer.Typer) -> None:
    """Add `msa chaos` to the `msa` app."""
    app.command()(chaos)


def chaos(
    ctx: typer.Context,
    profile: str = typer.Option("short", help="short (~75 s of faults) or long (11 min, "
                                "120 faults)."),
    seed: int | None = typer.Option(None, help="The same seed replays the same fault "
                                    "schedule (default: a random one, printed)."),
    duration: float | None = typer.Option(None, help="Seconds of faults (default: the "
                                          "profile's; the fault count scales with it)."),
    faults: str | None = typer.Option(None, "--faults", help="Comma-separated fault kinds "
                                      "(default: all): kill, pause, nats, postgres, "
                                      "slow-link, broken-link, duplicate."),
    clients: int | None = typer.Option(None, help="Concurrent clients (default: the "
                                       "profile's)."),
    attach: bool = typer.Option(False, "--attach", help="Use the system `msa up -d` runs "
                                "from the data folder (no link faults) instead of starting "
                                "one."),
    data_dir: Path | None = DATA_DIR_OPTION,
    report: Path | None = typer.Option(None, "--report", dir_okay=False,
                                       help="Also write the JSON report to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report, not a summary."),
    plan_only: bool = typer.Option(False, "--plan", help="Print the fault schedule and stop."),
) -> None:
    """Inject faults while clients use the system; exit 1 on any violated invariant.

    Starts its own system on free ports (in a temporary folder, or --data-dir),
    with some services behind fault proxies; with --attach, uses a running one.
    """
    from msa.tools.chaos import ChaosOptions, make_schedule, run_chaos
    from msa.tools.chaos.report import summary

    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise MsaError(f"--duration must be a positive number of seconds, not {duration:g}")
    if clients is not None and clients < 1:
        raise MsaError(f"--clients must be at least 1, not {clients}")
    options = ChaosOptions(
        seed=secrets.randbelow(2**31) if seed is None else seed, profile=profile,
        duration=duration, clients=clients,
        kinds=None if faults is None else [k.strip() for k in faults.split(",") if k.strip()])
    cli = cli_context(ctx)
    system = cli.system()
    schedule = make_schedule(system, options, attached=attach)  # bad input fails here, early
    if plan_only:
        console.print_json(json.dumps(schedule.to_dict()))
        return
    target = _attached(system, cli.data_dir(data_dir)) if attach else None
    if not attach:
        options.data_dir = data_dir.absolute() if data_dir else None
    err_console.print(f"[dim]chaos {options.profile}, seed {options.seed}[/]")
    found = asyncio.run(run_chaos(system, options, attached=target,
                                  progress=lambda line: err_console.print(f"[dim]{line}[/]")))
    _output(found, report, as_json, summary(found))
    if not found["ok"]:
        raise typer.Exit(1)


def _attached(system: System, data: Path) -> ChaosTarget:
    from msa.tools.chaos.target import attach
    from msa.tools.commands.ops import addresses_of
    from msa.tools.runner import running_state

    state = running_state(data)
    if state is None:
        raise MsaError(f"{system.system.name} is not running from {data}: start it with "
                       "`msa up -d`, or leave out --attach")
    return attach(data, state, addresses_of(state, system))


def _output(found: dict[str, Any], report: Path | None, as_json: bool, text: str) -> None:
    document = json.dumps(found, indent=2, default=str)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(document + "\n", encoding="utf-8")
    if as_json:
        console.print_json(document)
    else:
        console.print(text, markup=False, soft_wrap=True)
