"""`msa up`, `down`, `status`, `logs`, `reset` and `teams`: running a system locally."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from msa.errors import MsaError
from msa.tools.commands import DATA_DIR_OPTION, cli_context, console, err_console

if TYPE_CHECKING:
    from msa.system import System


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `msa` app (`up` lives in `msa.tools.commands.up`)."""
    from msa.tools.commands.up import up

    for command in (up, down, status, logs, reset, teams):
        app.command()(command)


def down(ctx: typer.Context, data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Stop everything `msa up` started (also after a crash of the supervisor)."""
    from msa.tools.runner.control import stop_system

    cli = cli_context(ctx)
    data = cli.data_dir(data_dir)
    with err_console.status("stopping…"):
        stopped = stop_system(data)
    console.print(f"stopped ({data})" if stopped else f"nothing was running ({data})")


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Show every process: pid, port, readiness (probed now), restarts, uptime."""
    import asyncio

    from msa.tools.runner import read_state, running_state
    from msa.tools.runner.probe import http_ok_sync, probe_many
    from msa.tools.runner.processes import process_alive
    from msa.tools.runner.views import status_rows, status_table

    cli = cli_context(ctx)
    data = cli.data_dir(data_dir)
    state = running_state(data)
    if state is None:
        if as_json:
            typer.echo(json.dumps({"running": False, "data_dir": str(data), "instances": []}))
            return
        last = read_state(data)
        died = last is not None and last.phase in ("starting", "running", "stopping")
        hint = " (its supervisor died; `msa down` cleans up)" if died else ""
        console.print(f"{cli.system().system.name} is not running ({data}){hint}")
        return
    answers = asyncio.run(probe_many([item.port for item in state.instances]))
    live = {item.name: ok for item, ok in zip(state.instances, answers, strict=True)}
    servers = {
        "postgres": bool(state.postgres and process_alive(state.postgres.pid)),
        "nats": bool(state.nats and state.nats.monitor_url and http_ok_sync(
            int(state.nats.monitor_url.rsplit(":", 1)[1]), "/healthz", timeout=0.5)),
    }
    rows = status_rows(state, live)
    if not as_json:
        console.print(status_table(state, rows, servers))
        return
    document: dict[str, Any] = {
        "running": True, "system": state.system, "mode": state.mode, "phase": state.phase,
        "data_dir": state.data_dir, "supervisor_pid": state.supervisor_pid,
        "gateway_url": state.gateway_url, "instances": rows,
    }
    for server in (state.postgres, state.nats):
        if server is not None:
            document[server.name] = {"pid": server.pid, "port": server.port, "url": server.url,
                                     "ready": servers[server.name], "restarts": server.restarts}
    if state.forkserver is not None:
        zygote = state.forkserver
        document["forkserver"] = {"pid": zygote.pid, "ready": zygote.ready,
                                  "restarts": zygote.restarts, "error": zygote.error}
    typer.echo(json.dumps(document, indent=2))


def logs(
    ctx: typer.Context,
    service: str | None = typer.Argument(None, help="A service, an instance (orders-1), "
                                         "postgres, nats or supervisor; default: all services."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    level: str | None = typer.Option(None, "--level", help="Minimum level, e.g. warning."),
    trace: str | None = typer.Option(None, "--trace", help="Only lines of this trace id."),
    lines: int | None = typer.Option(None, "--lines", "-n", min=0,
                                     help="Only the last N (default: all; 20 with -f)."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Merge the services' logs by timestamp, coloured by service."""
    from msa.tools.runner.logs import Follower, LogFilter, read_merged, select_files
    from msa.tools.runner.views import render_log_line, service_colours

    cli = cli_context(ctx)
    system, log_dir = cli.system(), cli.data_dir(data_dir) / "logs"
    files = select_files(log_dir, system, service)
    wanted = LogFilter(level, trace, service if service in system.services else None)
    colours = service_colours(system)
    follower = Follower(files, wanted, from_end=False) if follow else None
    existing = follower.poll() if follower else read_merged(files, wanted)
    if lines is None and follow:
        lines = 20
    for line in existing[max(0, len(existing) - lines):] if lines is not None else existing:
        console.print(render_log_line(line, colours), soft_wrap=True)
    if follower is None:
        if not any(path.exists() for path in files.values()):
            err_console.print(f"[dim]no logs yet in {log_dir}[/]")
        return
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(0.2)
            follower.add(select_files(log_dir, system, service))
            for line in follower.poll():
                console.print(render_log_line(line, colours), soft_wrap=True)


def reset(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Stop the system and delete its data folder (databases, messages, logs, secrets)."""
    import shutil

    from msa.runner_state import MARKER_FILE
    from msa.tools.runner.control import stop_system
    from msa.tools.runner.postgres import PostgresServer

    cli = cli_context(ctx)
    data = cli.data_dir(data_dir)
    if not data.exists():
        console.print(f"nothing to delete ({data} does not exist)")
        return
    if not (data / MARKER_FILE).exists() and any(data.iterdir()):
        raise MsaError(f"{data} does not look like an msa data folder (no {MARKER_FILE}); "
                       "not deleting it")
    if not yes:
        if not sys.stdin.isatty():
            raise MsaError(f"reset would delete {data}; pass --yes (stdin is not a terminal)")
        if not typer.confirm(f"Delete {data} with its databases, messages and logs?"):
            raise MsaError("reset cancelled; nothing deleted")
    with err_console.status("stopping…"):
        stop_system(data)
    socket_dir = PostgresServer(data / "postgres", port=0).socket_dir
    shutil.rmtree(data)
    if socket_dir.parent != data:
        shutil.rmtree(socket_dir, ignore_errors=True)
    console.print(f"deleted {data}")


def teams(ctx: typer.Context) -> None:
    """Teams, their services, and the calls and events between teams."""
    system = cli_context(ctx).system()
    table = Table(title=f"Teams of {system.system.name}", title_justify="left")
    for column in ("team", "services", "github", "description"):
        table.add_column(column)
    for team in system.teams.values():
        owned = [svc.name for svc in system.services.values() if svc.team == team.name]
        table.add_row(team.name, ", ".join(owned), team.github, team.description)
    console.print(table)
    calls: dict[tuple[str, str], list[str]] = {}
    for svc in system.services.values():
        for callee in svc.calls:
            _edge(calls, system, svc.name, callee, f"{svc.name} → {callee}")
    events: dict[tuple[str, str], list[str]] = {}
    for event, publisher in system.publisher_of.items():
        for consumer in system.consumers_of.get(event, []):
            _edge(events, system, publisher, consumer, f"{event} ({publisher} → {consumer})")
    console.print(_edge_table("Synchronous calls between teams", calls, "calls"))
    console.print(_edge_table("Asynchronous events between teams", events, "events"))
    from msa.tools.team_map import crossings

    pairs = Table(title="Coordination between teams (both directions)", title_justify="left")
    for column in ("team", "team", "calls", "event flows"):
        pairs.add_column(column)
    for (first, second), crossing in crossings(system).items():
        pairs.add_row(first, second, str(crossing.calls), str(crossing.events))
    console.print(pairs)


# -- helpers -------------------------------------------------------------------


def _edge(edges: dict[tuple[str, str], list[str]], system: System, source: str, target: str,
          label: str) -> None:
    pair = (system.services[source].team, system.services[target].team)
    if pair[0] != pair[1]:
        edges.setdefault(pair, []).append(label)


def _edge_table(title: str, edges: dict[tuple[str, str], list[str]], what: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("from team")
    table.add_column("to team")
    table.add_column(what)
    for (source, target), labels in sorted(edges.items()):
        table.add_row(source, target, "\n".join(labels))
    if not edges:
        table.add_row("-", "-", "none")
    return table
