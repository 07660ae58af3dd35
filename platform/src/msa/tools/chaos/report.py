"""The chaos report: what was done, what broke, what held — as JSON and as text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from msa.checks import CheckResult
from msa.tools.chaos.inject import FaultRecord
from msa.tools.chaos.record import Operation, Outcome, Recorder
from msa.tools.chaos.schedule import Schedule

PERCENTILES = (50, 90, 99)


def percentiles(values: Sequence[float]) -> dict[str, float | int]:
    """count, p50/p90/p99 and max of `values` in milliseconds (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}
    found: dict[str, float | int] = {"count": len(ordered)}
    for p in PERCENTILES:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil without floats
        found[f"p{p}_ms"] = round(ordered[int(rank) - 1] * 1000, 1)
    found["max_ms"] = round(ordered[-1] * 1000, 1)
    return found


def split_by_faults(ops: Sequence[Operation], faults: Sequence[FaultRecord]
                    ) -> tuple[list[float], list[float]]:
    """Latencies of operations overlapping a fault's window, and of the others."""
    windows = [(f.started, f.ended) for f in faults if f.status == "injected"]
    during: list[float] = []
    calm: list[float] = []
    for op in ops:
        hit = any(op.started <= end and op.finished >= start for start, end in windows)
        (during if hit else calm).append(op.latency)
    return during, calm


def build(*, schedule: Schedule, faults: Sequence[FaultRecord], recorder: Recorder,
          results: Sequence[CheckResult], timings: dict[str, float],
          origin: float = 0.0, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The whole report as a JSON-ready dict; `ok` is False on any violation.

    `origin` is when the fault phase began on the recorder's clock."""
    run = recorder.in_phase("run")
    injected = [f for f in faults if f.status == "injected"]
    ok = [op for op in run if op.outcome is Outcome.OK]
    during, calm = split_by_faults(ok, faults)
    any_during, any_calm = split_by_faults(run, faults)
    reasons = Counter(f"{op.kind} {op.status or op.detail}" for op in run
                      if op.outcome is not Outcome.OK)
    outcomes = Counter(op.outcome.value for op in run)
    violations = sum(len(r.violations) for r in results)
    return {
        "ok": violations == 0,
        "seed": schedule.seed,
        "profile": schedule.profile,
        "duration_s": round(timings.get("run", 0.0), 1),
        "timings_s": {name: round(value, 1) for name, value in timings.items()},
        "faults": {
            "planned": len(schedule.events),
            "injected": len(injected),
            "by_kind": dict(sorted(Counter(f.event.kind for f in injected).items())),
            "not_injected": dict(Counter(f.status for f in faults if f.status != "injected")),
            "recovery_s": _recovery(injected),
            "linked_services": list(schedule.linked),
            "events": [f.to_dict(origin) for f in faults],
        },
        "operations": {
            "total": len(run),
            "by_outcome": {key: outcomes.get(key, 0) for key in ("ok", "failed", "unknown")},
            "by_kind": recorder.counts("run"),
            "settle": recorder.counts("settle"),
            "not_ok_reasons": dict(reasons.most_common(12)),
        },
        "latency": {"calm": percentiles(calm), "during_faults": percentiles(during),
                    "all_calm": percentiles(any_calm),
                    "all_during_faults": percentiles(any_during)},
        "quiesce_s": None if timings.get("quiesce") is None else round(timings["quiesce"], 1),
        "checks": [{"name": r.name, "ok": r.ok, "counts": r.counts,
                    "violations": r.violations} for r in results],
        "violations": violations,
        "notes": list(notes),
    }


def summary(report: dict[str, Any]) -> str:
    """A readable summary of `report` (several lines, no trailing newline)."""
    faults, ops, latency = report["faults"], report["operations"], report["latency"]
    kinds = ", ".join(f"{kind} {n}" for kind, n in faults["by_kind"].items()) or "none"
    outcomes = ", ".join(f"{key} {n}" for key, n in ops["by_outcome"].items())
    lines = [
        f"chaos {report['profile']} · seed {report['seed']} · {report['duration_s']:g} s of "
        f"faults · {'PASSED' if report['ok'] else 'FAILED'}",
        f"faults: {faults['injected']} of {faults['planned']} injected ({kinds})",
        "back after: " + (", ".join(f"{kind} {t['median']} s (max {t['max']} s)"
                                    for kind, t in faults["recovery_s"].items()) or "-"),
        f"operations: {ops['total']} ({outcomes})",
        "  " + "; ".join(f"{kind}: " + " ".join(f"{o} {n}" for o, n in counts.items())
                         for kind, counts in ops["by_kind"].items()),
        f"latency of ok operations, calm: {_latency(latency['calm'])}",
        f"latency of ok operations, during faults: {_latency(latency['during_faults'])}",
        f"quiet {report['quiesce_s']} s after healing" if report["quiesce_s"] is not None
        else "never quiet after healing",
    ]
    for check in report["checks"]:
        counts = ", ".join(f"{k}={v}" for k, v in check["counts"].items())
        lines.append(f"{'ok' if check['ok'] else 'VIOLATED'} {check['name']}: {counts}")
        lines.extend(f"    - {v}" for v in check["violations"][:10])
        if len(check["violations"]) > 10:
            lines.append(f"    … and {len(check['violations']) - 10} more")
    lines.extend(f"note: {note}" for note in report["notes"])
    return "\n".join(lines)


def _recovery(faults: Sequence[FaultRecord]) -> dict[str, dict[str, float]]:
    """Per kind of fault that needs a restart: median and longest seconds until back."""
    found: dict[str, list[float]] = {}
    for fault in faults:
        if fault.recovery is not None:
            found.setdefault(fault.event.kind, []).append(fault.recovery)
    return {kind: {"median": round(sorted(times)[len(times) // 2], 1),
                   "max": round(max(times), 1)} for kind, times in sorted(found.items())}


def _latency(found: dict[str, Any]) -> str:
    if not found.get("count"):
        return "no operations"
    return (f"p50 {found['p50_ms']} ms, p90 {found['p90_ms']} ms, p99 {found['p99_ms']} ms, "
            f"max {found['max_ms']} ms ({found['count']} ops)")
