"""Shared pieces of the benchmarks: start a system, measure processes, print a table."""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import psutil

from msa.runner import Runner
from msa.system import load_system

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / ".bench"


def start(mode: str, **env: str) -> Runner:
    """A fresh system on free ports in a temporary data folder, ready."""
    data = Path(tempfile.mkdtemp(prefix=f"msa-bench-{mode}-"))
    runner = Runner(load_system(ROOT / "system.toml"), data_dir=data, mode=mode,
                    free_ports=True, env="test", env_overrides=env)
    runner.start()
    return runner


def system_pids(runner: Runner) -> list[int]:
    """Every process of the running system: services, PostgreSQL (all backends), NATS."""
    state = runner.status()
    roots = [i.pid for i in state.instances if i.pid]
    roots += [s.pid for s in (state.postgres, state.nats) if s is not None and s.pid]
    pids: set[int] = set()
    for pid in roots:
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        pids.add(pid)
        pids.update(child.pid for child in process.children(recursive=True))
    return sorted(pids)


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS, USS) of the processes in MiB; USS counts memory shared between them once."""
    rss = uss = 0
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        uss += info.uss
    return rss / 2**20, uss / 2**20


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "mean": statistics.fmean(values) if values else 0.0}


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
