"""Figure 1: the checkout five ways, the same work, in interleaved rounds.

(a) process mode and (b) monolith mode through the gateway; (c) one transaction,
(d) Temporal, (e) DBOS, each behind the same small HTTP front. Per round and
system: completed checkouts/s at saturation (closed loop), then p50/p99 at half
that rate (open loop), and CPU ms per checkout over every process of the system.
Books are drawn uniformly from the whole catalogue; the one-hot variant sends
every checkout to one book. Completed checkouts are counted from each system's own
store (confirmed orders), not from the answers the load generator saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bench.drive import drive
from bench.stats import percentile, ratio, spread

LETTERS = {"process": "a", "monolith": "b", "one-transaction": "c", "temporal": "d",
           "dbos": "e"}
RATIOS = (("a/c", "process", "one-transaction"), ("a/d", "process", "temporal"),
          ("a/e", "process", "dbos"), ("b/a", "monolith", "process"))


class Target(Protocol):
    name: str
    books: list[dict[str, Any]]

    def job(self) -> dict[str, Any]: ...
    def roots(self) -> list[int]: ...
    async def completed(self) -> int: ...
    async def confirmed(self) -> int: ...


@dataclass
class Profile:
    rounds: int = 3
    closed_seconds: float = 10.0
    open_seconds: float = 8.0
    hot_seconds: float = 5.0
    workers: int = 32
    warmup: float = 5.0  # seconds of unmeasured closed loop before the first round (loadgen)


def run(targets: list[Target], failed: dict[str, str], profile: Profile,
        progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every target in rounds; `failed` names systems that could not start."""
    rounds: list[dict[str, Any]] = []
    for number in range(profile.rounds):
        this: dict[str, Any] = {}
        for target in targets:
            progress(f"checkout round {number + 1} of {profile.rounds}: {target.name}")
            this[target.name] = _one_round(target, profile,
                                           warmup=profile.warmup if number == 0 else 0.0)
        for target in targets:  # the one-hot variant, reported apart
            hot = _closed(target, {**target.job(), "books": target.books[:1], "seconds":
                                   profile.hot_seconds, "workers": profile.workers})
            this[target.name]["hot_per_second"] = hot["per_second"]
        this["ratios"] = {name: ratio(this.get(top, {}).get("per_second"),
                                      this.get(bottom, {}).get("per_second"))
                          for name, top, bottom in RATIOS}
        rounds.append(this)
    systems: dict[str, Any] = {}
    for target in targets:
        mine = [r[target.name] for r in rounds]
        systems[target.name] = {
            "letter": LETTERS[target.name],
            "per_second": spread([m["per_second"] for m in mine]),
            "p50_ms": spread([m["p50_ms"] for m in mine]),
            "p99_ms": spread([m["p99_ms"] for m in mine]),
            "cpu_ms_per_checkout": spread([m["cpu_ms"] for m in mine]),
            "loadgen_cpu_ms_per_checkout": spread([m["loadgen_cpu_ms"] for m in mine]),
            "hot_per_second": spread([m["hot_per_second"] for m in mine]),
            "open_rate": spread([m["open_rate"] for m in mine]),
            "loaded_pss_mib": [m["loaded_pss_mib"] for m in mine if m["loaded_pss_mib"]],
            "db_per_checkout": mine[-1].get("db_per_checkout"),
            "latencies_ms": [value for m in mine for value in m["latencies_ms"]],
            "completed_in_store": asyncio.run(target.completed()),
            "completed_by_loadgen": sum(m["answered_confirmed"] for m in mine),
        }
    for name, reason in failed.items():
        systems[name] = {"letter": LETTERS[name], "error": reason}
    return {"systems": systems, "books_drawn": "uniform over the whole catalogue",
            "rounds": [{name: {k: v for k, v in value.items() if k != "latencies_ms"}
                        if isinstance(value, dict) and name != "ratios" else value
                        for name, value in r.items()} for r in rounds],
            "ratios": {name: spread([r["ratios"][name] for r in rounds])
                       for name, _, _ in RATIOS},
            "profile": profile.__dict__}


def _one_round(target: Target, profile: Profile, warmup: float) -> dict[str, Any]:
    counters = getattr(target, "database_counters", None)
    before = asyncio.run(counters()) if counters else None
    closed = _closed(target, {**target.job(), "seconds": profile.closed_seconds,
                              "workers": profile.workers, "warmup": warmup})
    rate = max(0.5, closed["per_second"] / 2)
    opened = drive({**target.job(), "seconds": profile.open_seconds, "rate": rate},
                   target.roots)
    after = asyncio.run(counters()) if counters else None
    latencies = opened["latencies_ms"]
    found: dict[str, Any] = {
        "per_second": closed["per_second"], "completed": closed["completed"]
        + opened["completed"], "answered_confirmed_per_second": closed["answered_per_second"],
        "outcomes": closed["outcomes"], "answered_confirmed": closed["outcomes"].get(
            "CONFIRMED", 0) + opened["outcomes"].get("CONFIRMED", 0),
        "cpu_ms": closed["ms_cpu_per_op"], "loadgen_cpu_ms": closed["loadgen_ms_cpu_per_op"],
        "open_rate": rate, "open_outcomes": opened["outcomes"],
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "open_cpu_ms": opened["ms_cpu_per_op"], "latencies_ms": latencies,
        "loaded_pss_mib": closed["loaded_pss_mib"]}
    if before is not None and after is not None and found["completed"]:
        # over both runs: PostgreSQL flushes a backend's counters up to a second late
        found["db_per_checkout"] = {key: (after[key] - before.get(key, 0)) / found["completed"]
                                    for key in after}
    return found


def _closed(target: Target, job: dict[str, Any]) -> dict[str, Any]:
    """A closed loop whose completed checkouts are counted from the system's own store
    (confirmed orders before and after): a checkout answered PENDING that the saga
    confirms within the run counts, one answered but not confirmed does not."""
    before = asyncio.run(target.confirmed())
    found = drive(job, target.roots)
    done = asyncio.run(target.confirmed()) - before
    found["answered_per_second"] = found["per_second"]
    found["completed"] = done
    found["per_second"] = done / found["seconds"]
    found["ms_cpu_per_op"] = 1000 * found["cpu_seconds"] / done if done else None
    found["loadgen_ms_cpu_per_op"] = 1000 * found["loadgen_cpu_seconds"] / done if done else None
    return found
