"""`msa bench --quick`: every figure is produced, and every system of the checkout
comparison really completed checkouts, counted from its own store (our orders
service's records, the peers' orders tables, DBOS's and Temporal's workflow records).

Nothing here asserts a rate or a time: the machine is shared and the figures noisy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MSA = str(Path(sys.executable).with_name("msa"))
SYSTEMS = ("process", "monolith", "one-transaction", "temporal", "dbos")


def test_an_unknown_benchmark_is_one_line_and_a_failure():
    done = subprocess.run([MSA, "bench", "no-such-figure"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "msa: unknown benchmark 'no-such-figure' (choose from checkout, book-page, call, "
        "events, platform)"]


@pytest.mark.timeout(900)
def test_the_quick_bench_produces_every_figure_and_every_system_completes_checkouts(tmp_path):
    done = subprocess.run([MSA, "bench", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [data] = tmp_path.glob("*.json")
    found = json.loads(data.read_text())
    assert set(found["figures"]) == {"checkout", "book-page", "call", "events", "platform"}
    assert found["not_started"] == {}

    checkout = found["figures"]["checkout"]
    for name in SYSTEMS:
        system = checkout["systems"][name]
        assert "error" not in system, system
        # completions counted from the system's own store (confirmed orders, and the
        # engines' workflow records), at least as many as were answered CONFIRMED
        assert system["completed_in_store"] >= system["completed_by_loadgen"], name
        assert system["completed_in_store"] > 0, name
        for figure in ("per_second", "p50_ms", "p99_ms", "cpu_ms_per_checkout",
                       "loadgen_cpu_ms_per_checkout", "hot_per_second"):
            assert system[figure]["median"] is not None, (name, figure)
        assert system["latencies_ms"]
    assert all(checkout["ratios"][name]["median"] is not None
               for name in ("a/c", "a/d", "a/e", "b/a"))
    for mode in ("process", "monolith"):
        assert checkout["systems"][mode]["db_per_checkout"]["commits"] > 0
        assert checkout["systems"][mode]["db_per_checkout"]["statements"] > 0

    pages = found["figures"]["book-page"]["systems"]
    for mode in ("process", "monolith"):
        assert pages[mode]["per_second"]["median"] is not None
        assert pages[mode]["p99_ms"]["median"] is not None
        assert pages[mode]["cpu_s_per_1000"]["median"] is not None

    call = found["figures"]["call"]
    assert "error" not in call, call
    assert call["http"]["calls"] > 0 and call["in_process"]["calls"] > 0
    assert call["http"]["failures"] == call["in_process"]["failures"] == 0
    assert call["overhead_p50_ms"] is not None

    events = found["figures"]["events"]
    assert events["outbox"]["arrived"] == events["outbox"]["events"] > 0
    assert events["outbox"]["burst_arrived"] == events["outbox"]["burst"]
    assert events["outbox"]["max_per_second"] is not None
    assert events["raw_nats"]["events"] > 0 and events["raw_nats"]["max_per_second"]

    platform = found["figures"]["platform"]["modes"]
    for mode in ("process", "monolith"):
        assert platform[mode]["cold_start_seconds"]["median"] is not None
        assert platform[mode]["idle_pss_mib"]["median"] > 0
        assert platform[mode]["loaded_pss_mib"]["median"] > 0

    [report] = tmp_path.glob("*.md")
    text = report.read_text()
    for heading in ("## 1. Checkout", "## 2. Book page", "## 3. One service-to-service call",
                    "## 4. Events", "## 5. Platform"):
        assert heading in text
    assert "not measured" not in text
    assert _plots(tmp_path) == {"checkouts-per-second.png", "cpu-per-checkout.png",
                                "checkout-latency-cdf.png"}


def _plots(folder: Path) -> set[str]:
    """The plots' names without the `<date>-<sha>-` prefix of the run."""
    data = next(folder.glob("*.json")).stem
    return {path.name.removeprefix(f"{data}-") for path in folder.glob("*.png")}
