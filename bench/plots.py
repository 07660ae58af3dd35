"""The report's PNG plots (matplotlib, no display): small files, one idea each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLOURS = {"process": "#1f77b4", "monolith": "#2ca02c", "one-transaction": "#7f7f7f",
           "temporal": "#9467bd", "dbos": "#d62728"}


def checkout_plots(figure: dict[str, Any], folder: Path, prefix: str) -> list[Path]:
    """Checkouts/s with min–max bars, CPU ms per checkout, and the latency CDFs."""
    systems = {name: found for name, found in figure["systems"].items() if "error" not in found}
    if not systems:
        return []
    labels = [f"({found['letter']}) {name}" for name, found in systems.items()]
    paths = [
        _bars(folder / f"{prefix}checkouts-per-second.png", labels,
              [found["per_second"] for found in systems.values()], list(systems),
              "completed checkouts/s (closed loop; median, min–max of rounds)", log=True),
        _bars(folder / f"{prefix}cpu-per-checkout.png", labels,
              [found["cpu_ms_per_checkout"] for found in systems.values()], list(systems),
              "CPU ms per checkout, every process of the system (median, min–max)", log=True),
    ]
    fig, axis = plt.subplots(figsize=(6.4, 3.6), dpi=80)
    for name, found in systems.items():
        values = sorted(found["latencies_ms"])
        if values:
            axis.plot(values, [(i + 1) / len(values) for i in range(len(values))],
                      label=f"({found['letter']}) {name}", color=COLOURS.get(name))
    axis.set_xscale("log")
    axis.set_xlabel("checkout latency at 50% of saturation, ms (from the intended send time)")
    axis.set_ylabel("fraction of checkouts")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    paths.append(_save(fig, folder / f"{prefix}checkout-latency-cdf.png"))
    return paths


def _bars(path: Path, labels: list[str], spreads: list[dict[str, Any]], names: list[str],
          title: str, log: bool = False) -> Path:
    medians = [s["median"] or 0 for s in spreads]
    low = [max(0, (s["median"] or 0) - (s["min"] or 0)) for s in spreads]
    high = [max(0, (s["max"] or 0) - (s["median"] or 0)) for s in spreads]
    fig, axis = plt.subplots(figsize=(6.4, 3.4), dpi=80)
    axis.bar(labels, medians, yerr=[low, high], capsize=4,
             color=[COLOURS.get(name, "#333333") for name in names])
    for x, value in enumerate(medians):
        axis.annotate(f"{value:.3g}", (x, value), ha="center", va="bottom", fontsize=8,
                      xytext=(0, 2), textcoords="offset points")
    if log:
        axis.set_yscale("log")
    axis.set_title(title, fontsize=9)
    axis.tick_params(axis="x", labelsize=8)
    axis.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
