"""`python -m bench [NAME ...] [--quick] [--out DIR] [--publish] [--note TEXT]`: run the
benchmarks (`--render JSON` writes the report of an earlier run instead).

NAME is one or more of: checkout, book-page, call, events, platform (default: all).
Writes `<date>-<sha>.json`, `<date>-<sha>.md` and PNG plots to --out (default
bench/results); with --publish also rewrites docs/performance.md and its plots.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import report, suite
from bench.ours import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="msa bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"figures to run: {', '.join(suite.FIGURES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="a few seconds per figure")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--publish", action="store_true",
                        help="also update docs/performance.md and its plots")
    parser.add_argument("--note", default="", help="a line for the report, e.g. what else "
                        "ran on the machine meanwhile")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: write the report of an earlier run's JSON")
    args = parser.parse_args(argv)
    if args.render:
        found = json.loads(args.render.read_text(encoding="utf-8"))
        for path in report.write(found, args.out, publish=args.publish, note=args.note):
            print(f"bench: wrote {path}")
        return 0
    unknown = [name for name in args.names if name not in suite.FIGURES]
    if unknown:
        print(f"msa: unknown benchmark {unknown[0]!r} (choose from "
              f"{', '.join(suite.FIGURES)})", file=sys.stderr)
        return 2
    names = args.names or list(suite.FIGURES)
    began = time.monotonic()

    def progress(line: str) -> None:
        print(f"bench: {time.monotonic() - began:6.1f} s  {line}", flush=True)

    found = suite.run(names, args.quick, progress)
    written = report.write(found, args.out, publish=args.publish, note=args.note)
    for path in written:
        print(f"bench: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
