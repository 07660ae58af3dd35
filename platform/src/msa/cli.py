"""The `msa` command line: one typer app, commands contributed by `msa.commands.*`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from msa.commands import CliContext
from msa.errors import MsaError

COMMAND_MODULES = (
    "msa.commands.runner",
    "msa.commands.ops",
    "msa.commands.chaos",
    "msa.commands.admin",
)
"""Each module's `register(app)` adds its commands; add a line to add a module."""

app = typer.Typer(
    name="msa",
    help="Run and inspect a system of services described by system.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    system: Path | None = typer.Option(
        None, "--system", envvar="MSA_SYSTEM_FILE", dir_okay=False,
        help="The system.toml to use (default: the nearest one in this or a parent folder)."),
) -> None:
    ctx.obj = CliContext(system_file=system)


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 1."""
    try:
        app(args=argv, prog_name="msa")
    except MsaError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")


def _fail(message: str) -> None:
    sys.stderr.write(f"msa: {message}\n")
    sys.stderr.flush()
    sys.exit(1)


if __name__ == "__main__":
    main()
