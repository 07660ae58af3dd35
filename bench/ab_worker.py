"""One side of `bench.ab`: run as a script with the python of the tree it measures.

    ab_worker.py MODE [KEY=VALUE ...]

Starts our system in MODE (the extra variables set for every service), prints one
line when it is ready, then measures one round of figure 1 for each `run` line on
stdin and prints its figures as one JSON line; any other line or end of input stops
the system. Kept free of imports newer than the bench itself, so that it runs in
older checkouts too.
"""

from __future__ import annotations

import json
import sys

import bench.ours as ours
from bench.figures.checkout import Profile, _one_round

KEPT = ("per_second", "cpu_ms", "p50_ms", "p99_ms", "loadgen_cpu_ms", "db_per_checkout")


def main() -> None:
    mode, extra = sys.argv[1], dict(item.split("=", 1) for item in sys.argv[2:])
    ours.BENCH_ENV = {**ours.BENCH_ENV, **extra}
    system = ours.OurSystem(mode, customers=64)
    system.start()
    try:
        print(json.dumps({"ready": True}), flush=True)
        first = True
        for line in sys.stdin:
            if line.strip() != "run":
                break
            found = _one_round(system, Profile(), warmup=Profile.warmup if first else 0.0)
            first = False
            print(json.dumps({key: found.get(key) for key in KEPT}), flush=True)
    finally:
        system.stop()


if __name__ == "__main__":
    main()
