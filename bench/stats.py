"""Percentiles and the median-with-range of interleaved rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min and max over the rounds that produced a value."""
    found = [value for value in values if value is not None]
    if not found:
        return {"median": None, "min": None, "max": None, "rounds": 0}
    return {"median": statistics.median(found), "min": min(found), "max": max(found),
            "rounds": len(found)}


def ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None
