"""`msa contracts check` and `msa contracts accept`: the services' published contracts."""

from __future__ import annotations

import typer

from msa.errors import MsaError
from msa.tools.commands import cli_context, console

contracts_app = typer.Typer(help="Check the services' APIs and events against their snapshots.",
                            no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(contracts_app, name="contracts")


@contracts_app.command("check")
def check(ctx: typer.Context) -> None:
    """Fail on a change that breaks a consumer (removed route or field, retyped field,
    new required request field, incompatible event); additive changes pass."""
    from msa.tools import contracts

    system = cli_context(ctx).system()
    breaking = contracts.check(system)
    missing = contracts.unrecorded(system)
    for item in breaking:
        console.print(f"breaking: {item}")
    if breaking:
        raise MsaError(f"{len(breaking)} breaking contract change(s); if intended, tell the "
                       "consumers named and record it with `msa contracts accept`")
    if missing:
        raise MsaError(f"no contract snapshot of {', '.join(missing)}: record it with "
                       "`msa contracts accept`")
    console.print("contracts: no breaking change")


@contracts_app.command("accept")
def accept(ctx: typer.Context) -> None:
    """Record the working tree's contracts as the ones consumers may rely on."""
    from msa.tools import contracts

    system = cli_context(ctx).system()
    changed = contracts.accept(system)
    for path in changed:
        console.print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(system.root)}")
    if not changed:
        console.print("contracts: already recorded")
