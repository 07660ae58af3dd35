"""Figure 2: the book page through the gateway (catalog, stock, rating, reviews).

Max requests/s (closed loop), p50/p99 at half of it (open loop), and CPU seconds
per 1,000 pages over every process of the system (Weaver's "cores"), process mode
against monolith mode in interleaved rounds.
"""

from __future__ import annotations

from typing import Any

from bench.drive import drive
from bench.stats import percentile, ratio, spread

WARMUP_SECONDS = 3.0


def run(targets: list[Any], rounds: int, seconds: float, workers: int = 32) -> dict[str, Any]:
    measured: list[dict[str, Any]] = []
    for number in range(rounds):
        this: dict[str, Any] = {}
        for target in targets:
            job = {"kind": "get", "base_url": target.base_url, "success": "200",
                   "paths": [f"/api/books/{book['id']}/page" for book in target.books]}
            closed = drive({**job, "seconds": seconds, "workers": workers,
                            "warmup": WARMUP_SECONDS if number == 0 else 0}, target.roots)
            rate = max(1.0, closed["per_second"] / 2)
            opened = drive({**job, "seconds": seconds, "rate": rate}, target.roots)
            this[target.name] = {
                "per_second": closed["per_second"], "outcomes": closed["outcomes"],
                "cpu_s_per_1000": closed["ms_cpu_per_op"],  # ms per page = s per 1,000
                "loadgen_cpu_s_per_1000": closed["loadgen_ms_cpu_per_op"],
                "p50_ms": percentile(opened["latencies_ms"], 50),
                "p99_ms": percentile(opened["latencies_ms"], 99), "open_rate": rate,
                "open_outcomes": opened["outcomes"]}
        this["process/monolith"] = ratio(this.get("process", {}).get("per_second"),
                                         this.get("monolith", {}).get("per_second"))
        measured.append(this)
    systems = {target.name: {key: spread([r[target.name][key] for r in measured])
                             for key in ("per_second", "p50_ms", "p99_ms", "cpu_s_per_1000",
                                         "loadgen_cpu_s_per_1000")}
               for target in targets}
    return {"systems": systems, "rounds": measured, "seconds": seconds, "workers": workers,
            "ratio": spread([r["process/monolith"] for r in measured])}
