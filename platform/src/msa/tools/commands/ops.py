"""Operating a running system: `msa check`, `msa sagas`, `msa dlq`, `msa docs`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from msa.errors import ConfigError, MsaError
from msa.tools.commands import DATA_DIR_OPTION, cli_context, console, err_console

if TYPE_CHECKING:
    from msa.checks import SystemAccess
    from msa.system import System
    from msa.tools.runner import RunnerState

sagas_app = typer.Typer(help="List stuck sagas, retry a step, or compensate now.",
                        no_args_is_help=True)
dlq_app = typer.Typer(help="List and replay dead-lettered events.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(docs)
    app.add_typer(sagas_app, name="sagas")
    app.add_typer(dlq_app, name="dlq")


def addresses_of(state: RunnerState, system: System) -> dict[str, list[str]]:
    """Where each service of a running system answers (monolith: its mounted prefix)."""
    if state.mode == "monolith":
        base = state.gateway_url or ""
        return {name: [base if name == system.system.gateway else f"{base}/_svc/{name}"]
                for name in system.services}
    found: dict[str, list[str]] = {}
    for instance in state.instances:
        found.setdefault(instance.service, []).append(instance.url)
    return found


def _running(ctx: typer.Context, data_dir: Path | None) -> tuple[System, RunnerState]:
    from msa.tools.runner import running_state

    cli = cli_context(ctx)
    system = cli.system()
    state = running_state(cli.data_dir(data_dir))
    if state is None:
        raise MsaError(f"{system.system.name} is not running: start it with `msa up -d`")
    return system, state


def _access(system: System, state: RunnerState) -> SystemAccess:
    from msa.checks import SystemAccess

    return SystemAccess(addresses_of(state, system), data_dir=state.data_dir)


def check(
    ctx: typer.Context,
    wait: float = typer.Option(30.0, "--wait", min=0, help="Seconds to wait for quiet."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Check the system's invariants (from system.toml's `checks`); exit 1 on any violation."""
    from msa.checks import load_suite, messaging_quiet

    system, state = _running(ctx, data_dir)
    if not system.system.checks:
        raise ConfigError("system.toml names no checks ([system] checks = \"module:NAME\")")
    suite = load_suite(system.system.checks)

    async def run() -> tuple[str | None, list[Any]]:
        access = _access(system, state)
        try:
            drained = messaging_quiet(system.publishers, _operator_nats(state))
            busy = await suite.wait_quiet(access, wait, also=[drained])
            return busy, await suite.run(access)
        finally:
            await access.aclose()

    busy, results = asyncio.run(run())
    if as_json:
        console.print_json(json.dumps({"busy": busy, "results": [
            {"name": r.name, "ok": r.ok, "counts": r.counts, "violations": r.violations}
            for r in results]}))
    else:
        if busy:
            err_console.print(f"[yellow]not quiet after {wait:g}s: {busy}[/]")
        for result in results:
            mark = "[green]ok[/]" if result.ok else "[bold red]VIOLATED[/]"
            counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
            console.print(f"{mark} {result.name}: {counts}")
            for violation in result.violations[:20]:
                console.print(f"    - {violation}")
            if len(result.violations) > 20:
                console.print(f"    … and {len(result.violations) - 20} more")
    if busy or not all(r.ok for r in results):
        raise typer.Exit(1)


def docs(ctx: typer.Context,
         check_only: bool = typer.Option(False, "--check", help="Fail if any is stale.")) -> None:
    """Write CODEOWNERS, the README diagram and the event catalog from system.toml."""
    from msa.tools import docs as generated

    system = cli_context(ctx).system()
    if check_only:
        stale = generated.stale(system)
        if stale:
            names = ", ".join(str(p.relative_to(system.root)) for p in stale)
            raise MsaError(f"generated documents are stale: {names} (run `msa docs`)")
        console.print("generated documents are up to date")
        return
    changed = generated.write(system)
    for path in changed:
        console.print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(system.root)}")
    if not changed:
        console.print("generated documents are up to date")


def _saga_call(ctx: typer.Context, service: str, method: str, path: str,
               data_dir: Path | None) -> Any:
    import httpx

    from msa.service_auth import operator_credentials

    system, state = _running(ctx, data_dir)
    system.service(service)
    url = addresses_of(state, system)[service][0] + path
    headers = operator_credentials(state.data_dir).headers(service)
    try:
        response = httpx.request(method, url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise MsaError(f"{service} is unreachable: {type(exc).__name__}") from None
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        raise MsaError(f"{service}: {detail or response.status_code}")
    return response.json()


SERVICE_OPTION = typer.Option("orders", "--service", help="The service orchestrating the sagas.")


@sagas_app.command("list")
def sagas_list(ctx: typer.Context, service: str = SERVICE_OPTION,
               status: str | None = typer.Option(None, help="running, compensating, completed, "
                                                 "compensated, failed, or active"),
               stuck: float = typer.Option(0, help="Only those not updated for N seconds."),
               data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Sagas, newest first, with counts by status."""
    query = f"?limit=100&older_than={stuck}" + (f"&status={status}" if status else "")
    found = _saga_call(ctx, service, "GET", f"/internal/sagas{query}", data_dir)
    table = Table("id", "saga", "status", "step", "attempts", "updated", "error")
    for item in found["items"]:
        table.add_row(item["id"], item["saga_type"], item["status"], str(item["step"]),
                      str(item["attempts"]), str(item["updated_at"])[:19], item["error"] or "")
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(found["counts"].items())))


@sagas_app.command("show")
def sagas_show(ctx: typer.Context, saga_id: str, service: str = SERVICE_OPTION,
               data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """One saga with its step history."""
    console.print_json(json.dumps(_saga_call(ctx, service, "GET", f"/internal/sagas/{saga_id}",
                                             data_dir), default=str))


@sagas_app.command("retry")
def sagas_retry(ctx: typer.Context, saga_id: str, service: str = SERVICE_OPTION,
                data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Drive a stuck or failed saga again now."""
    found = _saga_call(ctx, service, "POST", f"/internal/sagas/{saga_id}/retry", data_dir)
    console.print(f"saga {saga_id} is {found['status']}; it will be driven at once")


@sagas_app.command("compensate")
def sagas_compensate(ctx: typer.Context, saga_id: str, service: str = SERVICE_OPTION,
                     data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Undo the steps done so far (refused once the saga is past its pivot)."""
    _saga_call(ctx, service, "POST", f"/internal/sagas/{saga_id}/compensate", data_dir)
    console.print(f"saga {saga_id} is compensating")


def _operator_nats(state: RunnerState) -> str | None:
    """The running NATS, with the operator's credentials from the data folder."""
    from msa.nats_auth import operator_url

    return operator_url(state.nats.url, state.data_dir) if state.nats else None


def _nats_url(ctx: typer.Context, data_dir: Path | None) -> str:
    _, state = _running(ctx, data_dir)
    url = _operator_nats(state)
    if url is None:
        raise MsaError("the running system has no NATS server")
    return url


@dlq_app.command("list")
def dlq_list(ctx: typer.Context, data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Events that a consumer failed to handle, with the reason."""
    from msa import dlq

    letters = asyncio.run(dlq.list_dead_letters(_nats_url(ctx, data_dir)))
    table = Table("seq", "consumer", "event type", "event id", "reason")
    for letter in letters:
        table.add_row(str(letter.seq), letter.consumer, letter.event_type, letter.event_id,
                      letter.reason)
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(ctx: typer.Context,
               seq: list[int] = typer.Option(None, "--seq", help="Only these (default: all)."),
               data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Publish dead letters again on their original subject."""
    from msa import dlq

    count = asyncio.run(dlq.replay(_nats_url(ctx, data_dir), seq or None))
    console.print(f"replayed {count} dead letter(s)")
