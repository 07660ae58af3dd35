"""`msa new service` and `msa remove service`: add a service in one command, or take it out."""

from __future__ import annotations

import time

import typer

from msa.tools.commands import cli_context, console, err_console

new_app = typer.Typer(help="Make something new in the system.", no_args_is_help=True)
remove_app = typer.Typer(help="Take something out of the system.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(new_app, name="new")
    app.add_typer(remove_app, name="remove")


@new_app.command("service")
def new_service(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The service's name (a DNS label; also its package)."),
    team: str = typer.Option(..., "--team", help="The team that owns it (system.toml teams)."),
    database: bool = typer.Option(True, "--database/--no-database",
                                  help="Give it its own PostgreSQL database."),
    publishes: list[str] = typer.Option([], "--publishes", metavar="EVENT",
                                        help="An event it publishes (NAME.entity.happened.v1)."),
    consumes: list[str] = typer.Option([], "--consumes", metavar="EVENT",
                                       help="An event of another service it consumes."),
    calls: list[str] = typer.Option([], "--calls", metavar="SERVICE",
                                    help="A service it calls over HTTP."),
    description: str | None = typer.Option(None, "--description", help="One line: its purpose."),
    sync: bool = typer.Option(True, "--sync/--no-sync",
                              help="Relock and sync the uv workspace (install the package)."),
) -> None:
    """Scaffold a working service, register it in system.toml and the workspace, and
    regenerate CODEOWNERS, the diagram, the event catalog, monitoring and CI."""
    from msa.tools import scaffold

    system = cli_context(ctx).system()
    started = time.monotonic()
    blueprint = scaffold.plan(system, name, team, database=database, publishes=publishes,
                              consumes=consumes, calls=calls, description=description)
    written = scaffold.new_service(system, blueprint, sync=sync)
    for path in written:
        console.print(f"wrote {path.relative_to(system.root)}")
    err_console.print(f"{name} (team {team}) is in the system on port {blueprint.port}, behind "
                      f"the gateway at /api/{name} ({time.monotonic() - started:.1f} s); "
                      f"`msa up` starts it")


@remove_app.command("service")
def remove_service(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The service to take out."),
    sync: bool = typer.Option(True, "--sync/--no-sync", help="Relock and sync the workspace."),
) -> None:
    """Undo `msa new service`: its folder, its registrations and its generated documents."""
    from msa.tools import scaffold

    system = cli_context(ctx).system()
    for path in scaffold.remove_service(system, name, sync=sync):
        console.print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(system.root)}")
    err_console.print(f"{name} is out of the system")
