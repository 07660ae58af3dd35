"""The `msa` command line: one typer app, commands contributed by `msa.tools.commands.*`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from msa.errors import MsaError
from msa.tools.commands import CliContext

COMMAND_MODULES = (
    "msa.tools.commands.runner",
    "msa.tools.commands.ops",
    "msa.tools.commands.chaos",
    "msa.tools.commands.admin",
    "msa.tools.commands.scaffold",
    "msa.tools.commands.contracts",
    "msa.tools.commands.deploy",
    "msa.tools.commands.bench",
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
    """Entry point: user errors become one line on stderr and exit code 1, usage errors
    (a bad option value, an unknown option or command, a missing argument) one line
    and exit code 2; `--help` and a bare group still print their help."""
    try:
        result = app(args=argv, prog_name="msa", standalone_mode=False)
    except typer.Abort:
        _fail("aborted")
    except typer.TyperException as exc:  # typer's click errors: usage errors have code 2
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # a group named without a command: its help is already printed
        _fail(_error_line(exc), code=exc.exit_code)
    except MsaError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    # Without standalone mode typer returns the code of a `typer.Exit` (130 after
    # Ctrl-C) instead of exiting; a command that finishes returns None.
    if isinstance(result, int) and result != 0:
        sys.exit(result)


def _error_line(exc: typer.TyperException) -> str:
    """The error in one line, without pydantic's prefix, and where to read the usage."""
    message = _one_line(exc.format_message()).replace("Value error, ", "")
    context = getattr(exc, "ctx", None)
    if exc.exit_code != 2 or context is None:
        return message
    return f"{message} (see `{context.command_path} --help`)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str, code: int = 1) -> None:
    sys.stderr.write(f"msa: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
