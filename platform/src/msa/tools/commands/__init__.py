"""The CLI's command modules and what they share.

A command module defines `register(app: typer.Typer) -> None` and is listed once in
`msa.tools.cli.COMMAND_MODULES`. Commands get the system through `cli_context(ctx)`, so
the global `--system` option works everywhere; they raise `MsaError` for anything
the user should read as one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console

from msa.system import System, load_system

console = Console(highlight=False)
"""Standard output, for results."""
err_console = Console(stderr=True, highlight=False)
"""Standard error, for progress and notes."""

DATA_DIR_OPTION = typer.Option(
    None, "--data-dir", envvar="MSA_DATA_DIR", file_okay=False,
    help="Data folder (default: system.toml's local.data_dir).")


@dataclass
class CliContext:
    """Global options, and the system loaded once on first use."""

    system_file: Path | None = None
    _system: System | None = field(default=None, repr=False)

    def system(self) -> System:
        """The system described by `--system`, $MSA_SYSTEM_FILE or the nearest system.toml."""
        if self._system is None:
            self._system = load_system(self.system_file)
        return self._system

    def data_dir(self, option: Path | None) -> Path:
        """`--data-dir` / $MSA_DATA_DIR, else the system's `local.data_dir`."""
        if option is not None:
            return option.absolute()
        system = self.system()
        return (system.root / system.local.data_dir).resolve()


def cli_context(ctx: typer.Context) -> CliContext:
    """The `CliContext` of this invocation (an empty one when a command runs alone)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    return root.obj
