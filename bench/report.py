"""The bench's outputs: the JSON of everything measured, a markdown report, the plots,
and (with publish) docs/performance.md with the published anchors set apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import plots
from bench.ours import ROOT
from bench.report_tables import figure_sections

ANCHORS = Path(__file__).with_name("anchors.md")
"""Published figures of others, quoted with their sources (kept apart from our runs)."""


def write(found: dict[str, Any], folder: Path, *, publish: bool = False,
          note: str = "") -> list[Path]:
    """Write `<date>-<sha>.json`, `.md` and plots into `folder`; with `publish` also
    docs/performance.md and its plots in docs/. Returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{found['date'][:10]}-{found['commit']}"
    data = folder / f"{stem}.json"
    data.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    written = [data]
    pictures = _plots(found, folder, f"{stem}-")
    written += pictures
    report = folder / f"{stem}.md"
    report.write_text(markdown(found, {p.name.removeprefix(f"{stem}-"): p.name
                                       for p in pictures}, note), encoding="utf-8")
    written.append(report)
    if publish:
        docs = ROOT / "docs"
        pictures = _plots(found, docs, "performance-")
        page = docs / "performance.md"
        page.write_text(_performance_page(found, {
            p.name.removeprefix("performance-"): p.name for p in pictures}, note),
            encoding="utf-8")
        written += [*pictures, page]
    return written


def markdown(found: dict[str, Any], pictures: dict[str, str], note: str = "") -> str:
    """The report: the run's facts, then each figure's tables and plots."""
    machine = found["machine"]
    lines = [f"# Benchmarks: {found['date']} at {found['commit']} ({found['profile']} profile)",
             "",
             f"Machine: {machine['cores']} cores, {machine['memory_gib']} GiB, "
             f"{machine['cpu_model']}; Linux {machine['kernel']}, Python "
             f"{machine['python']}; load average (1, 5, 15 min) at the start "
             f"{', '.join(str(v) for v in machine['load_average'])}"
             + (f", at the end {', '.join(str(v) for v in found['load_average_at_end'])}"
                if found.get("load_average_at_end") else "") + ".", ""]
    if note:
        lines += [note, ""]
    lines += figure_sections(found["figures"], pictures)
    return "\n".join(lines) + "\n"


def _plots(found: dict[str, Any], folder: Path, prefix: str) -> list[Path]:
    figure = found["figures"].get("checkout")
    return plots.checkout_plots(figure, folder, prefix) if figure else []


def _performance_page(found: dict[str, Any], pictures: dict[str, str], note: str) -> str:
    intro = """# Performance: what the split costs, measured

Written by `make bench` (`msa bench`, the code in `bench/`, the peers in
`bench/peers/`). Every figure below comes from one run on one machine, with the
systems interleaved in rounds; the medians of the rounds are shown with their
min–max. The load generator runs in its own process and its CPU is reported
apart. Rerun it and this page is rewritten. How the checkout got here, pass by pass,
with before/after figures: [lean-checkout.md](lean-checkout.md).

"""
    body = markdown(found, pictures, note).split("\n", 2)[2]
    return intro + f"## Latest run: {found['date']}, commit {found['commit']}\n" + body + \
        "\n" + ANCHORS.read_text(encoding="utf-8")
