"""Figure 5: the platform itself: cold start to all ready, and memory (PSS) of the
whole system idle and under load (the load figure comes from the checkout runs)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

from bench.measure import pss_mib, tree
from bench.ours import runner_roots, start_runner
from bench.stats import spread


def run(starts: int, idle_seconds: float, loaded: dict[str, list[float]],
        progress: Callable[[str], None]) -> dict[str, Any]:
    """Start each mode `starts` times from nothing (initdb included); `loaded` holds the
    PSS sampled halfway through each mode's checkout runs."""
    modes: dict[str, Any] = {}
    for mode in ("process", "monolith"):
        cold: list[float] = []
        idle: list[float] = []
        processes = 0
        for _ in range(starts):
            progress(f"cold start, {mode} mode")
            began = time.perf_counter()
            runner = start_runner(mode)
            cold.append(time.perf_counter() - began)
            try:
                time.sleep(idle_seconds)
                idle.append(pss_mib(runner_roots(runner)))
                processes = len(tree(runner_roots(runner)))
            finally:
                runner.stop()
                shutil.rmtree(runner.data_dir, ignore_errors=True)
        modes[mode] = {"cold_start_seconds": spread(cold), "idle_pss_mib": spread(idle),
                       "loaded_pss_mib": spread(loaded.get(mode, [])),
                       "processes": processes}
    return {"modes": modes, "starts": starts}
