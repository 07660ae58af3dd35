"""Where the CPU of a checkout goes: py-spy samples every service process of one mode
under a closed-loop checkout load, then sums the samples by library.

    python -m bench.profile --mode process|monolith [--seconds 15] [--out DIR]

Each sample is charged to the first frame, from the innermost out, that belongs to a
library or to our code (the standard library's frames are charged to their caller),
so the table says which library the CPU was spent in; the raw stacks are kept in
`--out` for a flame graph (`py-spy`'s raw format).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.drive import drive
from bench.ours import OurSystem

_FRAME = re.compile(r"\((?P<file>[^:()]+)(?::\d+)?\)$")  # "function (module/path.py:line)"


_WAITING = ("Runner.run (asyncio/runners.py", "Condition.wait (threading.py",
            "Event.wait (threading.py")
"""Innermost frames that mean waiting: uvloop's loop runs in C below `Runner.run`
(its callbacks show as deeper Python frames), and threads parked on a condition."""


def owner(frame: str) -> str | None:
    """The library (or our package) a `function (module/path.py:line)` frame belongs to;
    None for the standard library and the interpreter."""
    found = _FRAME.search(frame)
    if not found:
        return None
    top = found.group("file").split("/", 1)[0].removesuffix(".py")
    if top.startswith("<") or top in sys.stdlib_module_names:
        return None  # charged to the caller
    return top


def by_library(raw: str) -> Counter[str]:
    """Samples per library from py-spy's raw output (`frame;frame;... count`)."""
    totals: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1].startswith(_WAITING):
            totals["(waiting: event loop in C, idle threads)"] += int(count)
            continue
        charged = next((name for frame in reversed(frames)
                        if (name := owner(frame)) is not None), "python (stdlib)")
        totals[charged] += int(count)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="bench-prof-")))
    parser.add_argument("--read", type=Path, metavar="DIR",
                        help="measure nothing: sum the raw stacks of an earlier profile")
    args = parser.parse_args()
    if args.read:
        summarise(args.read, f"{args.read}:")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    system = OurSystem(args.mode, customers=32)
    system.start()
    try:
        assert system.runner is not None
        targets = {i.name: i.pid for i in system.runner.status().instances if i.pid}
        spies = [subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking",
             "--format", "raw", "-d", str(int(args.seconds)), "-p", str(pid),
             "-o", str(args.out / f"{name}.txt")], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL) for name, pid in targets.items()]
        result = drive({**system.job(), "seconds": args.seconds, "workers": 32}, system.roots)
        for spy in spies:
            spy.wait(60)
    finally:
        system.stop()
    summarise(args.out, f"{args.mode}: {result['completed']} checkouts, "
              f"{result['per_second']:.1f}/s; over {len(targets)} process(es)")


def summarise(folder: Path, title: str) -> None:
    """Print the share of py-spy samples per library over the raw files in `folder`."""
    totals: Counter[str] = Counter()
    for path in folder.glob("*.txt"):
        totals += by_library(path.read_text(encoding="utf-8"))
    everything = sum(totals.values()) or 1
    print(f"{title}; py-spy samples by library (raw stacks: {folder}):")
    for name, samples in totals.most_common(12):
        print(f"  {name:28s} {100 * samples / everything:5.1f}%")


if __name__ == "__main__":
    main()
