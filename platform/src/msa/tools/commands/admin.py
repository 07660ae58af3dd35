"""Administrators: `msa admin create EMAIL` makes one in a running system.

The system names the function that does it (system.toml: `[system] admin =
"package.module:function"`, called as `await function(database_url, email, password)`
and raising ValueError to refuse). The service whose Python package holds that
function lends its database; the URL comes from the runner's secrets. The password
is read from a prompt (typed twice, never echoed) or from standard input with
`--password-stdin`: there is no default password anywhere.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from msa.errors import ConfigError, MsaError
from msa.tools.commands import DATA_DIR_OPTION, cli_context, console

admin_app = typer.Typer(help="Manage the system's administrators.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")


@admin_app.command("create")
def create(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The new administrator's email address."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (one line)."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Create an administrator in the running system (system.toml: `[system] admin`)."""
    from msa.serve import load_factory
    from msa.tools.runner import running_state

    cli = cli_context(ctx)
    system = cli.system()
    if not system.system.admin:
        raise ConfigError("system.toml names no admin hook ([system] admin = \"module:NAME\")")
    package = system.system.admin.split(":", 1)[0].split(".", 1)[0]
    owner = next((s.name for s in system.services.values() if s.package == package), None)
    if owner is None:
        raise ConfigError(f"no service's package holds {system.system.admin!r}")
    folder = cli.data_dir(data_dir)
    state = running_state(folder)
    if state is None or state.postgres is None:
        raise MsaError(f"{system.system.name} is not running: start it with `msa up -d`")
    url = _database_url(folder, owner, state.postgres.port)
    password = _read_password(password_stdin)
    try:
        user = asyncio.run(load_factory(system.system.admin)(url, email, password))
    except ValueError as exc:
        raise MsaError(f"cannot create administrator {email}: {exc}") from None
    console.print(f"created administrator {user['email']} ({user['id']})")


def _database_url(data_dir: Path, service: str, port: int) -> str:
    from msa.tools.runner.databases import DatabaseSecrets

    path = data_dir / "secrets" / "postgres.json"
    if not path.exists():
        raise MsaError(f"no database secrets in {path}")
    password = DatabaseSecrets.load_or_create(path, []).roles.get(service)
    if password is None:
        raise MsaError(f"{service} has no database role in {path}")
    return f"postgresql://{service}:{password}@127.0.0.1:{port}/{service}"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise MsaError("an administrator needs a password")
    return str(password)
