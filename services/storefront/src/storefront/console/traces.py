"""Traces from the services' span buffers: recent traces, and one laid out as a waterfall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root: str
    services: list[str]
    spans: int
    start: float
    duration_ms: float
    error: bool


def summaries(spans: list[dict[str, Any]], limit: int = 50) -> list[TraceSummary]:
    """The most recent traces, newest first, each named by its root span."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    found = []
    for trace_id, members in by_trace.items():
        ids = {s["span_id"] for s in members}
        roots = [s for s in members if s["parent_span_id"] not in ids] or members
        root = min(roots, key=lambda s: s["start"])
        start = min(s["start"] for s in members)
        end = max(s["start"] + s["duration_ms"] / 1000 for s in members)
        name = root["name"]
        path = root.get("attributes", {}).get("url.path")
        found.append(TraceSummary(
            trace_id, f"{root['service']}: {name} {path}" if path else f"{root['service']}: {name}",
            sorted({s["service"] for s in members}), len(members), start,
            round((end - start) * 1000, 3), any(s["status"] == "error" for s in members)))
    return sorted(found, key=lambda t: t.start, reverse=True)[:limit]


@dataclass(frozen=True)
class Bar:
    """One span's row in the waterfall: depth, label and position in SVG units."""

    span: dict[str, Any]
    depth: int
    x: float
    width: float
    y: float


WIDTH = 1000.0
ROW = 22.0
LABEL = 360.0


def waterfall(spans: list[dict[str, Any]]) -> tuple[list[Bar], float, float]:
    """Spans in tree order (children under their parent, by start), with the bars'
    places on a time axis `WIDTH - LABEL` wide; also the total duration (ms) and height."""
    if not spans:
        return [], 0.0, 0.0
    ids = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)
    start = min(s["start"] for s in spans)
    end = max(s["start"] + s["duration_ms"] / 1000 for s in spans)
    total = max(end - start, 1e-6)
    scale = (WIDTH - LABEL - 10) / total
    ordered: list[tuple[dict[str, Any], int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start"]):
            ordered.append((span, depth))
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    bars = [Bar(span, depth, LABEL + (span["start"] - start) * scale,
                max(2.0, span["duration_ms"] / 1000 * scale), 20 + i * ROW)
            for i, (span, depth) in enumerate(ordered)]
    return bars, round(total * 1000, 3), 30 + len(bars) * ROW


def traces_of_saga(spans: list[dict[str, Any]], saga_id: str) -> list[tuple[str, int]]:
    """The traces in which a saga's participants were called (its id is their
    reference), with their span counts, largest first: the checkout's own trace
    holds most of its steps; a step driven later (a retry, a recovery) has its own."""
    matched = {s["trace_id"] for s in spans
               if saga_id in str(s.get("attributes", {}).get("url.path", ""))}
    sizes = {trace_id: sum(1 for s in spans if s["trace_id"] == trace_id) for trace_id in matched}
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
