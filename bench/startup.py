"""Cold start to all-ready, and resident memory of the whole system at idle.

    python -m bench.startup [--mode process|monolith] [--runs 3]

Goals (issue: foundation): cold `msa up -d` to all ready < 5 s; the whole system
at idle (every service process, PostgreSQL with its backends, NATS) < 1 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import time

from bench.common import memory_mib, save, start, system_pids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring")
    args = parser.parse_args()
    cold: list[float] = []
    memory: list[tuple[float, float, int]] = []
    for _ in range(args.runs):
        began = time.perf_counter()
        runner = start(args.mode)
        cold.append(time.perf_counter() - began)
        try:
            time.sleep(args.idle)
            pids = system_pids(runner)
            rss, uss = memory_mib(pids)
            memory.append((rss, uss, len(pids)))
        finally:
            runner.stop()
            shutil.rmtree(runner.data_dir, ignore_errors=True)
    result = {
        "mode": args.mode,
        "cold_start_seconds": [round(t, 2) for t in cold],
        "cold_start_best": round(min(cold), 2),
        "idle_rss_mib": [round(m[0]) for m in memory],
        "idle_uss_mib": [round(m[1]) for m in memory],
        "processes": memory[-1][2] if memory else 0,
    }
    print(f"{args.mode}: cold start {result['cold_start_seconds']} s (best "
          f"{result['cold_start_best']} s); idle RSS {result['idle_rss_mib']} MiB, "
          f"USS {result['idle_uss_mib']} MiB over {result['processes']} processes")
    print(f"saved {save(f'startup-{args.mode}', result)}")


if __name__ == "__main__":
    main()
