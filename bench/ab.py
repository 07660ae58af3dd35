"""Before and after: our checkout on two commits, side by side, rounds interleaved.

    python -m bench.ab BEFORE [AFTER] [--mode process|monolith] [--rounds 4]
                       [--env KEY=VALUE ...] [--out FILE]

BEFORE and AFTER are git revisions (AFTER defaults to the working tree as it is).
Each revision other than the working tree is checked out into a temporary worktree
with its own environment (`uv sync --frozen`). Both systems are started at once, on
free ports, and measured in turns (A B, B A, A B, …), each turn the same round as
figure 1 (`bench.figures.checkout`: closed loop at saturation, then open loop at
half that rate, CPU over every process of the system, statements and commits from
PostgreSQL), so a noisy neighbour or a warm cache does not favour one side.
`--env` sets variables for the AFTER side only (e.g. `MSA_TRACING=false` with
AFTER equal to BEFORE measures what tracing costs). Prints one line per turn and
the medians; `--out` keeps every turn as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.ours import ROOT

WORKER = Path(__file__).with_name("ab_worker.py")
FIGURES = ("per_second", "cpu_ms", "p50_ms", "p99_ms", "loadgen_cpu_ms")


def _tree(revision: str, scratch: Path) -> Path:
    """A checkout of `revision` with its environment ("." is the working tree)."""
    if revision == ".":
        return ROOT
    folder = scratch / revision.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                    str(folder), revision], check=True)
    uv = shutil.which("uv") or str(ROOT / ".venv-tools" / "bin" / "uv")
    subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=folder, check=True)
    return folder


def _start(tree: Path, mode: str, env: list[str]) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [str(tree / ".venv" / "bin" / "python"), str(WORKER), mode, *env], cwd=tree,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(tree), "PATH": f"{tree / '.venv' / 'bin'}:/usr/bin:/bin"})
    assert worker.stdout is not None
    ready = worker.stdout.readline()
    if not ready:
        raise SystemExit(f"bench.ab: the system in {tree} did not start")
    return worker


def _turn(worker: subprocess.Popen[str]) -> dict[str, Any]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("run\n")
    worker.stdin.flush()
    found: dict[str, Any] = json.loads(worker.stdout.readline())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=".")
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    scratch = Path(tempfile.mkdtemp(prefix="msa-bench-ab-"))
    sides = {"before": args.before, "after": args.after}
    workers: dict[str, subprocess.Popen[str]] = {}
    turns: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        for side, revision in sides.items():
            workers[side] = _start(_tree(revision, scratch), args.mode,
                                   args.env if side == "after" else [])
        for number in range(args.rounds):
            for side in (list(sides) if number % 2 == 0 else list(reversed(sides))):
                found = _turn(workers[side])
                turns[side].append(found)
                shown = {k: round(found[k], 2) for k in FIGURES if found.get(k) is not None}
                print(f"round {number + 1} {side}: {shown}", flush=True)
    finally:
        for worker in workers.values():
            if worker.stdin is not None:
                worker.stdin.close()
        for worker in workers.values():
            worker.wait(120)
        for folder in scratch.iterdir():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(folder)], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    for side, measured in turns.items():
        medians = {k: statistics.median(t[k] for t in measured) for k in FIGURES
                   if all(t.get(k) is not None for t in measured)}
        database = {k: statistics.median(t["db_per_checkout"][k] for t in measured)
                    for k in ("statements", "commits")
                    if all(k in (t.get("db_per_checkout") or {}) for t in measured)}
        print(f"{args.mode} {side} ({sides[side]}) median of {len(measured)}: "
              + ", ".join(f"{k} {v:.3g}" for k, v in {**medians, **database}.items()))
    if args.out:
        args.out.write_text(json.dumps({"mode": args.mode, "sides": sides, "env": args.env,
                                        "turns": turns}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
