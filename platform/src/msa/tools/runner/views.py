"""Rich renderings of the runner's state: start-up progress, status rows, the summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from msa.errors import MsaError
from msa.runner_state import InstanceState, RunnerState, ServerState
from msa.system import System
from msa.tools.runner.logs import LogLine, describe_crash_loop, describe_laggards

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan",
           "bright_magenta", "bright_green", "bright_yellow", "bright_blue", "red")
LEVEL_STYLES = {"warning": "yellow", "warn": "yellow", "error": "bold red",
                "critical": "bold red", "debug": "dim"}
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_HIDDEN_FIELDS = {"ts", "timestamp", "time", "level", "levelname", "message", "msg", "event",
                  "service", "instance", "logger", "version", "span_id", "exc"}


def progress_table(state: RunnerState | None, started: float) -> RenderableType:
    """What is ready, starting or restarting, with a spinner while something is pending."""
    spin = _SPINNER[int(time.monotonic() * 12) % len(_SPINNER)]
    if state is None:
        return Text(f"{spin} starting the supervisor…", style="cyan")
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(width=2)
    table.add_column(style="bold")
    table.add_column(style="dim", justify="right")
    table.add_column()
    items: list[ServerState | InstanceState] = [
        item for item in (state.postgres, state.nats) if item is not None]
    items.extend(state.instances)
    for item in items:
        if item.ready:
            mark: RenderableType = Text("✓", style="green")
            note = Text("ready", style="green")
        else:
            mark = Text(spin, style="cyan")
            restarts = f" (restarts: {item.restarts})" if item.restarts else ""
            note = Text(("starting" if item.pid else "waiting") + restarts,
                        style="yellow" if item.restarts else "dim")
        table.add_row(mark, item.name, str(item.port), note)
    done = sum(1 for item in items if item.ready)
    footer = Text(f"{done}/{len(items)} ready · {time.monotonic() - started:.1f} s", style="dim")
    return Group(table, footer)


def status_rows(state: RunnerState, live: dict[str, bool]) -> list[dict[str, Any]]:
    """One row per service instance; `live` maps instance → a fresh /readyz answer."""
    now = time.time()
    rows = []
    for item in state.instances:
        rows.append({
            "service": item.service, "team": item.team, "mode": state.mode,
            "instance": item.name, "pid": item.pid, "port": item.port, "url": item.url,
            "ready": live.get(item.name, False), "restarts": item.restarts,
            "uptime_s": round(now - item.started_at, 1) if item.pid and item.started_at else None,
            "log": item.log,
        })
    return rows


def status_table(state: RunnerState, rows: list[dict[str, Any]], servers: dict[str, bool]) -> Table:
    """The `msa status` table: servers first, then every instance."""
    table = Table(title=f"{state.system} · {state.mode} mode · {state.data_dir}",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  padding=(0, 1, 0, 0))
    for column in ("service", "team", "mode", "instance", "pid", "port", "ready", "restarts",
                   "uptime"):
        table.add_column(column, justify="right" if column in ("pid", "port", "restarts")
                         else "left", no_wrap=column in ("service", "instance", "pid", "port"))
    for server in (state.postgres, state.nats):
        if server is not None:
            table.add_row(server.name, "platform", "-", server.name, _text(server.pid),
                          str(server.port), _ready(servers.get(server.name, False)),
                          str(server.restarts), "")
    zygote = state.forkserver
    if zygote is not None:
        table.add_row("forkserver", "platform", "-", "forkserver", _text(zygote.pid), "-",
                      _ready(zygote.ready), str(zygote.restarts), "")
    for row in rows:
        table.add_row(row["service"], row["team"], row["mode"], row["instance"],
                      _text(row["pid"]), str(row["port"]), _ready(row["ready"]),
                      str(row["restarts"]), format_duration(row["uptime_s"]))
    return table


def summary(
    state: RunnerState, urls: dict[str, list[str]], log_dir: str, elapsed: float | None,
    seed: str | None = None,
) -> RenderableType:
    """The URLs printed once the system is up; `urls` maps service → its base URLs
    (in monolith mode `<gateway>/_svc/<name>`); `seed` is the seed's summary line."""
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    head = Text.assemble((f"{state.system} is up{took}", "bold green"),
                         (f" ({state.mode} mode)", "dim"))
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("open", Text(state.gateway_url or "", style="bold cyan"))
    for service, service_urls in urls.items():
        table.add_row(service, ", ".join(service_urls))
    if state.postgres is not None:
        table.add_row("postgres", f"127.0.0.1:{state.postgres.port}"
                      " (one database and role per service; secrets/postgres.json)")
    if state.nats is not None:
        table.add_row("nats", f"{state.nats.url} (monitoring {state.nats.monitor_url})")
    table.add_row("logs", f"{log_dir} (msa logs -f)")
    if seed is not None:
        table.add_row("seed", seed)
    return Group(head, table)


def watch_progress(
    console: Console, read: Callable[[], RunnerState | None], check: Callable[[], None],
    started: float, timeout: float,
) -> RunnerState:
    """Show `progress_table` live until everything is ready; MsaError on failure or timeout.

    `read` gives the latest state (None until the supervisor has written one);
    `check` raises MsaError if the supervisor failed.
    """
    with Live(progress_table(None, started), console=console, refresh_per_second=12,
              transient=True) as live:
        while True:
            check()
            state = read()
            live.update(progress_table(state, started))
            if state is not None and state.all_ready:
                return state
            failing = describe_crash_loop(state) if state else None
            if failing:
                raise MsaError(failing)
            if time.monotonic() - started > timeout:
                detail = describe_laggards(state) if state else "the supervisor"
                raise MsaError(f"not ready after {timeout:.0f} s: {detail}")
            time.sleep(0.05)


def service_colours(system: System) -> dict[str, str]:
    """A colour per service (dim for the servers), stable in system.toml order."""
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(system.services)}
    colours.update(monolith="white", postgres="dim", nats="dim", supervisor="dim")
    return colours


def render_log_line(line: LogLine, colours: dict[str, str]) -> Text:
    """`source │ time LEVEL message  extra=fields`, coloured by service."""
    service = line.source.rsplit("-", 1)[0] if line.source[-1:].isdigit() else line.source
    record = line.record
    if record and service == "monolith" and record.get("service"):
        service = str(record["service"])
    text = Text(f"{line.source:<16}│ ", style=colours.get(service, "white"))
    if record is None:
        return text.append(line.raw)
    clock = datetime.fromtimestamp(line.when).strftime("%H:%M:%S.%f")[:-3] if line.when else ""
    text.append(f"{clock} ", style="dim")
    text.append(f"{line.level.upper() or '-':<7} ", style=LEVEL_STYLES.get(line.level, ""))
    text.append(line.message)
    extras = " ".join(f"{key}={value}" for key, value in record.items()
                      if key not in _HIDDEN_FIELDS)
    if extras:
        text.append(f"  {extras}", style="dim")
    if record.get("exc"):
        text.append("\n" + str(record["exc"]), style="red")
    return text


def format_duration(seconds: float | None) -> str:
    """`42s`, `3m07s`, `2h05m`."""
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _ready(value: bool) -> Text:
    return Text("yes", style="green") if value else Text("no", style="red")


def _text(value: object) -> str:
    return "" if value is None else str(value)
