"""Fault injection end to end: the short chaos profile keeps every invariant, and a
deliberately broken build is caught.

Each test starts its own bookstore (some services behind fault proxies), drives the
bookstore's workload through the gateway while faults are injected, heals, waits
until quiet and checks. `MSA_CHAOS_SEED` replays another schedule.
"""

from __future__ import annotations

import os
from itertools import count
from pathlib import Path

import pytest

from msa.system import System, load_system
from msa.tools.chaos import ChaosOptions, make_schedule, run_chaos
from msa.tools.chaos.report import summary

SEED = int(os.environ.get("MSA_CHAOS_SEED", "20261125"))
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def system() -> System:
    return load_system(Path(__file__).parents[1] / "system.toml")


async def test_the_short_chaos_profile_keeps_every_invariant(system: System, tmp_path: Path):
    report = await run_chaos(system, ChaosOptions(seed=SEED, profile="short",
                                                  data_dir=tmp_path / "system"))

    text = summary(report)
    assert report["violations"] == 0, text
    assert report["ok"], text
    assert report["faults"]["injected"] >= 10, text
    assert len(report["faults"]["by_kind"]) >= 4, text
    assert sum(report["operations"]["by_kind"]["checkout"].values()) >= 200, text
    assert report["quiesce_s"] is not None, text


async def test_a_build_without_inbox_dedupe_or_compensations_is_caught(system: System,
                                                                       tmp_path: Path):
    def duplicates_order_events(seed: int) -> bool:
        options = ChaosOptions(seed=seed, kinds=["duplicate"], duration=25)
        return any(event.target == "orders" for event in make_schedule(system, options).events)

    seed = next(seed for seed in count(SEED) if duplicates_order_events(seed))
    report = await run_chaos(system, ChaosOptions(
        seed=seed, kinds=["duplicate"], duration=25, data_dir=tmp_path / "system",
        env_overrides={"MSA_FAULTS": "break:inbox-dedupe,break:compensation"}))

    text = summary(report)
    violations = {check["name"]: " | ".join(check["violations"]) for check in report["checks"]}
    assert not report["ok"], text
    assert "notified more than once" in violations["events"], text
    assert "cancelled order" in violations["orders"], text
