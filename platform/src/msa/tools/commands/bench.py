"""`msa bench`: run the system's benchmarks from its repository's `bench/` package.

The benchmarks are tooling, not platform code: they live beside system.toml in
`bench/` (run as `python -m bench`), so a deployed service never loads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from msa.errors import MsaError
from msa.tools.commands import cli_context

FIGURES = ("checkout", "book-page", "call", "events", "platform")


def register(app: typer.Typer) -> None:
    """Add `msa bench` to the `msa` app."""
    app.command()(bench)


def bench(
    ctx: typer.Context,
    names: list[str] | None = typer.Argument(
        None, metavar="[NAME]...", help=f"Figures to run: {', '.join(FIGURES)} (default: all)."),
    quick: bool = typer.Option(False, "--quick", help="A few seconds per figure (as the "
                               "tests run it)."),
    out: Path | None = typer.Option(None, "--out", file_okay=False, help="Where the JSON, "
                                    "report and plots go (default: bench/results)."),
    publish: bool = typer.Option(False, "--publish", help="Also rewrite docs/performance.md "
                                 "and its plots."),
    note: str = typer.Option("", "--note", help="A line for the report, e.g. what else ran "
                             "on the machine meanwhile."),
) -> None:
    """Measure the system side by side with its peers and write the report.

    Starts its own systems on free ports in temporary folders and stops them after.
    """
    unknown = [name for name in names or [] if name not in FIGURES]
    if unknown:
        raise MsaError(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(FIGURES)})")
    root = cli_context(ctx).system().root
    if not (root / "bench" / "__main__.py").is_file():
        raise MsaError(f"no benchmarks here: {root / 'bench'} has no __main__.py")
    command = [sys.executable, "-m", "bench", *(names or []),
               *(["--quick"] if quick else []), *(["--publish"] if publish else []),
               *(["--out", str(out.absolute())] if out else []),
               *(["--note", note] if note else [])]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    code = subprocess.run(command, cwd=root, env={**os.environ, "PYTHONPATH": path},
                          check=False).returncode
    if code:
        raise MsaError(f"the benchmarks failed (exit code {code})")
