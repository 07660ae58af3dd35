"""The report's tables, one function per figure: medians with min–max, errors as rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def ranged(found: dict[str, Any] | None, digits: int = 3) -> str:
    """`median (min–max)`, or the median alone for one round."""
    if not found or found.get("median") is None:
        return "–"
    if found["rounds"] <= 1 or found["min"] == found["max"]:
        return number(found["median"], digits)
    return (f"{number(found['median'], digits)} ({number(found['min'], digits)}–"
            f"{number(found['max'], digits)})")


def _warmup(profile: dict[str, Any]) -> str:
    seconds = profile.get("warmup")
    if isinstance(seconds, bool) or not seconds:  # older results: True meant 8 checkouts
        return ""
    return (f"Before the first round, each system runs the same closed loop for {seconds:g} s, "
            "unmeasured (pools open their connections, caches and plans warm). ")


def checkout_section(figure: dict[str, Any], pictures: dict[str, str]) -> list[str]:
    profile = figure["profile"]
    lines = [
        "## 1. Checkout, five ways, the same work", "",
        f"{_warmup(profile)}Closed loop with {profile['workers']} customers for "
        f"{profile['closed_seconds']:g} s (saturation), then open loop at half that rate "
        f"for {profile['open_seconds']:g} s "
        f"(latency from the intended send time); {profile['rounds']} interleaved round(s); "
        f"books drawn {figure['books_drawn']}. CPU is every process of the system "
        "(services or peer process, all PostgreSQL backends, NATS, Temporal's server) "
        "from /proc, per completed checkout at saturation; the load generator's own CPU "
        "is apart. Completed checkouts are counted from each system's own store (confirmed "
        "orders before and after each run), so a checkout answered PENDING whose saga "
        "confirms it within the run counts. (a)/(b) run cart add + checkout through the "
        "gateway; (c)–(e) take "
        "the order over HTTP from one small front (Starlette on uvicorn) and run the same "
        "five steps' SQL on asyncpg against the same embedded PostgreSQL settings "
        "(fsync on). The last column counts from each store after all runs, against the "
        "confirmed answers the load generator saw.", "",
        "| system | checkouts/s | p50 ms | p99 ms | CPU ms/checkout | load generator CPU "
        "ms/checkout | one-hot book checkouts/s | completed (store / load generator) |",
        "|---|---|---|---|---|---|---|---|"]
    for name, found in figure["systems"].items():
        label = f"({found['letter']}) {name}"
        if "error" in found:
            lines.append(f"| {label} | not measured: {found['error']} | | | | | | |")
            continue
        lines.append(
            f"| {label} | {ranged(found['per_second'])} | {ranged(found['p50_ms'])} | "
            f"{ranged(found['p99_ms'])} | {ranged(found['cpu_ms_per_checkout'])} | "
            f"{ranged(found['loadgen_cpu_ms_per_checkout'])} | "
            f"{ranged(found['hot_per_second'])} | {found['completed_in_store']} / "
            f"{found['completed_by_loadgen']} |")
    lines += ["", "Ratios of checkouts/s, taken within each round (median, min–max): " + "; ".join(
        f"{name} = {ranged(found)}" for name, found in figure["ratios"].items()) + ".", ""]
    counted = {name: found.get("db_per_checkout") for name, found in figure["systems"].items()
               if found.get("db_per_checkout")}
    if counted:
        keys = ["statements", "commits", "rollbacks", "inserted", "updated", "deleted",
                "returned"]
        keys = [key for key in keys if any(key in found for found in counted.values())]
        lines += ["Work per checkout journey (cart add + checkout, and the background work "
                  "meanwhile) in PostgreSQL, summed over every service database, last round "
                  "(statements from pg_stat_statements, the rest from pg_stat_database):", "",
                  "| system | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, found in counted.items():
            lines.append(f"| {name} | " + " | ".join(number(found.get(k), 3) for k in keys)
                         + " |")
        lines.append("")
    for title, key in (("Checkouts/s", "checkouts-per-second.png"),
                       ("Latency CDF", "checkout-latency-cdf.png"),
                       ("CPU per checkout", "cpu-per-checkout.png")):
        if key in pictures:
            lines += [f"![{title}]({pictures[key]})", ""]
    return lines


def book_page_section(figure: dict[str, Any], _: dict[str, str]) -> list[str]:
    lines = ["## 2. Book page through the gateway", "",
             f"`GET /api/books/{{id}}/page` (catalog, stock, rating, reviews), every book in "
             f"turn: closed loop with {figure['workers']} connections for "
             f"{figure['seconds']:g} s, then open loop at half that rate; CPU seconds per "
             "1,000 pages over every process of the system.", "",
             "| mode | pages/s | p50 ms | p99 ms | CPU s per 1,000 pages | load generator "
             "CPU s per 1,000 |", "|---|---|---|---|---|---|"]
    for name, found in figure["systems"].items():
        lines.append(f"| {name} | {ranged(found['per_second'])} | {ranged(found['p50_ms'])} | "
                     f"{ranged(found['p99_ms'])} | {ranged(found['cpu_s_per_1000'])} | "
                     f"{ranged(found['loadgen_cpu_s_per_1000'])} |")
    return [*lines, "", f"Process/monolith pages/s within a round: {ranged(figure['ratio'])}.",
            ""]


def call_section(figure: dict[str, Any], _: dict[str, str]) -> list[str]:
    lines = ["## 3. One service-to-service call", ""]
    if "error" in figure:
        return [*lines, f"Not measured: {figure['error']}", ""]
    lines += [f"`msa.client` calling the catalog service as the gateway does: "
              f"`GET {figure['path']}` ({figure['payload_bytes']} bytes of JSON), "
              f"{figure['connections']} connections. Over HTTP it reached "
              f"{number(figure['max_per_second_http'])} calls/s at most (closed loop); the "
              f"open loop ran at {number(figure['rate'])} calls/s (Dapr's "
              f"{figure['requested_rate']:g}/s, or half the maximum if this machine cannot "
              "reach it), latency from the intended send time.", "",
              "| transport | calls/s reached | p50 ms | p90 ms | p99 ms | failures |",
              "|---|---|---|---|---|---|"]
    for label, key in (("HTTP to the catalog process", "http"),
                       ("in-process (ASGI, as colocated in monolith mode)", "in_process")):
        found = figure[key]
        lines.append(f"| {label} | {number(found['per_second'])} | {number(found['p50_ms'])} | "
                     f"{number(found['p90_ms'])} | {number(found['p99_ms'])} | "
                     f"{found['failures']} |")
    return [*lines, "", f"Overhead of the network hop: +{number(figure['overhead_p50_ms'])} ms "
            f"at p50, +{number(figure['overhead_p99_ms'])} ms at p99.", ""]


def events_section(figure: dict[str, Any], _: dict[str, str]) -> list[str]:
    outbox, raw = figure["outbox"], figure["raw_nats"]
    return ["## 4. Events: commit to effect", "",
            f"{outbox['events']} book events at {outbox['rate']:g}/s, one per transaction, "
            "through catalog's outbox → relay → NATS JetStream → inventory's inbox "
            f"({outbox['arrived']} arrived); the maximum rate from a burst of "
            f"{outbox['burst']} ({outbox['burst_arrived']} arrived). Against it, nats-py "
            "alone on the same server: JetStream publish with ack to a pull consumer.", "",
            "| path | p50 ms | p99 ms | max events/s |", "|---|---|---|---|",
            f"| outbox → NATS → inbox | {number(outbox['p50_ms'])} | "
            f"{number(outbox['p99_ms'])} | {number(outbox['max_per_second'])} |",
            f"| raw nats-py JetStream | {number(raw['p50_ms'])} | {number(raw['p99_ms'])} | "
            f"{number(raw['max_per_second'])} |", ""]


def platform_section(figure: dict[str, Any], _: dict[str, str]) -> list[str]:
    lines = ["## 5. Platform: cold start and memory", "",
             f"Cold start: a new data folder to every service ready (initdb, NATS, "
             f"provisioning, migrations, seed), {figure['starts']} time(s) per mode. Memory: "
             "PSS of every process (from /proc/<pid>/smaps_rollup), idle after the start and "
             "halfway through each checkout closed loop.", "",
             "| mode | cold start s | idle PSS MiB | loaded PSS MiB | processes |",
             "|---|---|---|---|---|"]
    for mode, found in figure["modes"].items():
        lines.append(f"| {mode} | {ranged(found['cold_start_seconds'])} | "
                     f"{ranged(found['idle_pss_mib'])} | {ranged(found['loaded_pss_mib'])} | "
                     f"{found['processes']} |")
    return [*lines, ""]


SECTIONS: dict[str, Callable[[dict[str, Any], dict[str, str]], list[str]]] = {
    "checkout": checkout_section,
    "book-page": book_page_section,
    "call": call_section,
    "events": events_section,
    "platform": platform_section,
}


def figure_sections(figures: dict[str, Any], pictures: dict[str, str]) -> list[str]:
    """Each figure's section, in the bench's order."""
    lines: list[str] = []
    for name, render in SECTIONS.items():
        if name in figures:
            lines += render(figures[name], pictures)
    return lines
