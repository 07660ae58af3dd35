"""Cold start to all-ready, memory of the whole system at idle, restart after SIGKILL.

    python -m bench.startup [--mode process|monolith] [--runs 3] [--fork-server on|off]

Goals (issue: foundation): cold `msa up -d` to all ready < 5 s; the whole system
at idle (every service process, the fork server, PostgreSQL with its backends,
NATS) < 1 GiB; a SIGKILLed service ready again < 5 s.

Memory is summed three ways over every process: RSS counts pages shared between
processes (the fork server's imported code, PostgreSQL's shared buffers) once per
process; USS counts only each process's own pages; PSS divides each shared page
among its sharers, so its sum is the memory the system really holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import time
from pathlib import Path

import psutil

from bench.measure import tree
from bench.ours import ROOT, runner_roots, start_runner
from msa.tools.runner import Runner

RESULTS = ROOT / ".bench"


def all_pids(runner: Runner) -> list[int]:
    """Every process of the system: services, the fork server, PostgreSQL, NATS."""
    return sorted(tree(runner_roots(runner)))


def save(name: str, result: dict[str, object]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def memory(pids: list[int]) -> dict[str, float]:
    """RSS, USS and PSS of the processes, in MiB."""
    totals = {"rss": 0, "uss": 0, "pss": 0}
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for key in totals:
            totals[key] += getattr(info, key, 0)
    return {key: value / 2**20 for key, value in totals.items()}


def restart_seconds(runner: Runner, name: str, timeout: float = 60.0) -> float:
    """SIGKILL instance `name`; seconds until it is ready again."""
    pid = runner.kill(name, signal.SIGKILL)
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        item = runner.status().instance(name)
        if item.ready and item.pid not in (None, pid):
            return time.perf_counter() - began
        time.sleep(0.01)
    raise TimeoutError(f"{name} not ready {timeout:.0f} s after SIGKILL")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring")
    parser.add_argument("--fork-server", choices=["on", "off", "auto"], default="auto",
                        help="sets MSA_FORK_SERVER for the runner (auto: as set, else on)")
    args = parser.parse_args()
    if args.fork_server != "auto":
        os.environ["MSA_FORK_SERVER"] = "1" if args.fork_server == "on" else "0"
    victims = ["monolith-0"] if args.mode == "monolith" else ["orders-0", "catalog-0"]
    cold: list[float] = []
    memories: list[dict[str, float]] = []
    restarts: list[float] = []
    counts: list[int] = []
    steps: list[dict[str, float]] = []
    for _ in range(args.runs):
        began = time.perf_counter()
        runner = start_runner(args.mode)
        cold.append(time.perf_counter() - began)
        try:
            zygote = runner.status().forkserver
            steps.append({**runner.servers.timings,
                          "forkserver_import": zygote.import_seconds if zygote else 0.0})
            time.sleep(args.idle)
            pids = all_pids(runner)
            memories.append(memory(pids))
            counts.append(len(pids))
            restarts.extend(restart_seconds(runner, name) for name in victims)
        finally:
            runner.stop()
            shutil.rmtree(runner.data_dir, ignore_errors=True)
    result = {
        "mode": args.mode,
        "fork_server": bool(steps and steps[-1]["forkserver_import"]),
        "cold_start_seconds": [round(t, 2) for t in cold],
        "cold_start_best": round(min(cold), 2),
        "steps_seconds": [{key: round(value, 2) for key, value in step.items()}
                          for step in steps],
        "idle_rss_mib": [round(m["rss"]) for m in memories],
        "idle_uss_mib": [round(m["uss"]) for m in memories],
        "idle_pss_mib": [round(m["pss"]) for m in memories],
        "processes": counts[-1] if counts else 0,
        "restart_after_sigkill_seconds": [round(t, 2) for t in restarts],
        "restart_median": round(statistics.median(restarts), 2) if restarts else None,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    print(f"{args.mode} (fork server {'on' if result['fork_server'] else 'off'}): cold start "
          f"{result['cold_start_seconds']} s (best {result['cold_start_best']} s); idle RSS "
          f"{result['idle_rss_mib']} MiB, USS {result['idle_uss_mib']} MiB, PSS "
          f"{result['idle_pss_mib']} MiB over {result['processes']} processes; ready after "
          f"SIGKILL {result['restart_after_sigkill_seconds']} s; load {result['load_average']}")
    print(f"steps: {result['steps_seconds']}")
    print(f"saved {save(f'startup-{args.mode}', result)}")


if __name__ == "__main__":
    main()
