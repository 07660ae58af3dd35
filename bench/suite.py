"""The whole bench: start the systems once, run each figure, keep what it measured.

Systems are started once and stay up for every figure that needs them; a system
that cannot be installed or started is recorded with its reason and its rows say
so in the report. Nothing is estimated in its place.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.figures import book_page, checkout, events, platform
from bench.measure import commit, machine
from bench.ours import ROOT, OurSystem
from bench.peers.launch import PeerSystem
from msa.tools.runner import Mode

FIGURES = ("checkout", "book-page", "call", "events", "platform")
PEERS = ("one-transaction", "temporal", "dbos")


@dataclass
class Profile:
    """How long and how often: `full` for `make bench`, `quick` for the tests."""

    name: str
    checkout: checkout.Profile
    customers: int
    seconds: float  # per measured run of the other figures
    rounds: int
    cold_starts: int
    events: int

    @classmethod
    def of(cls, quick: bool) -> Profile:
        if quick:
            return cls("quick", checkout.Profile(rounds=1, closed_seconds=2, open_seconds=2,
                                                 hot_seconds=1.5, workers=8, warmup=0.0),
                       customers=8, seconds=1.5, rounds=1, cold_starts=1, events=150)
        return cls("full", checkout.Profile(), customers=64, seconds=6, rounds=3,
                   cold_starts=3, events=1000)


@dataclass
class Systems:
    """The running systems, by name, and those that could not start (name → reason)."""

    running: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, make: Callable[[], Any], progress: Callable[[str], None]) -> None:
        for attempt in (1, 2):  # a busy machine can drop a connection while we set up
            progress(f"starting {name}" + (" again" if attempt > 1 else ""))
            try:
                system = make()
                system.start()
            except Exception as exc:
                self.failed[name] = f"could not start: {type(exc).__name__}: {exc}"[:300]
                progress(f"{name} did not start: {self.failed[name]}")
                continue
            self.failed.pop(name, None)
            self.running[name] = system
            return

    def stop(self) -> None:
        for system in self.running.values():
            try:
                system.stop()
            except Exception:
                traceback.print_exc()
        self.running.clear()


def run(names: list[str], quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the named figures (all by default) and return everything they measured."""
    profile = Profile.of(quick)
    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(ROOT), "machine": machine(), "profile": profile.name,
        "figures": {}}
    systems = Systems()
    count_statements()
    try:
        modes: tuple[Mode, ...] = ("process", "monolith")
        makers: dict[str, Callable[[], Any]] = {
            mode: partial(OurSystem, mode, profile.customers, quick) for mode in modes
            if {"checkout", "book-page"} & set(names)
            or (mode == "process" and {"call", "events"} & set(names))}
        if "checkout" in names:
            books = seed_catalogue()
            makers.update({peer: partial(PeerSystem, peer, books, profile.customers)
                           for peer in PEERS})
        with ThreadPoolExecutor(max_workers=3) as pool:  # starting is mostly waiting
            list(pool.map(lambda name: systems.start(name, makers[name], progress), makers))
        if "checkout" in names:
            targets = [systems.running[name] for name in checkout.LETTERS
                       if name in systems.running]
            failed = {name: reason for name, reason in systems.failed.items()
                      if name in checkout.LETTERS}
            progress("figure: checkout, five ways")
            result["figures"]["checkout"] = checkout.run(targets, failed, profile.checkout,
                                                          progress)
            for peer in PEERS:  # the rest need only our system: free the machine
                if peer in systems.running:
                    systems.running.pop(peer).stop()
        _other_figures(names, systems, profile, result, progress)
    finally:
        systems.stop()
    if "platform" in names:
        progress("figure: platform")
        found = result["figures"].get("checkout", {}).get("systems", {})
        loaded = {mode: found.get(mode, {}).get("loaded_pss_mib", []) for mode in found}
        result["figures"]["platform"] = platform.run(profile.cold_starts, profile.seconds / 2,
                                                     loaded, progress)
    result["not_started"] = systems.failed
    result["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    return result


def _other_figures(names: list[str], systems: Systems, profile: Profile,
                   result: dict[str, Any], progress: Callable[[str], None]) -> None:
    ours = [systems.running[mode] for mode in ("process", "monolith")
            if mode in systems.running]
    if "book-page" in names and ours:
        progress("figure: book page")
        result["figures"]["book-page"] = book_page.run(ours, profile.rounds, profile.seconds)
    process = systems.running.get("process")
    if process is None:
        return
    runner = process.runner
    if "call" in names:
        progress("figure: one service-to-service call")
        job = {"data_dir": str(runner.data_dir), "catalog": runner.url("catalog"),
               "database_url": runner.database_url("catalog"), "nats_url": runner.nats_url,
               "rate": 1000, "seconds": profile.seconds}
        done = subprocess.run([sys.executable, "-m", "bench.figures.call", json.dumps(job)],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        result["figures"]["call"] = (json.loads(done.stdout.splitlines()[-1]) if
                                     done.returncode == 0 and done.stdout.strip() else
                                     {"error": done.stderr.strip().splitlines()[-1:]})
    if "events" in names:
        progress("figure: events")
        result["figures"]["events"] = asyncio.run(events.run(
            runner, process.books, rate=50, seconds=profile.seconds, burst=profile.events))


def seed_catalogue() -> list[dict[str, Any]]:
    """The bookstore's seed catalogue (ids of our own, the same prices) for the peers."""
    from catalog.seed import seed_books

    return [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"isbn:{book.isbn}")),
             "price": book.price_cents} for book in seed_books()]


def count_statements() -> None:
    """Every PostgreSQL this process starts from now on loads pg_stat_statements, ours
    and the peers' alike (the same settings for all), so statements can be counted."""
    import msa.tools.runner.postgres as postgres

    postgres.SETTINGS["shared_preload_libraries"] = "'pg_stat_statements'"
    postgres.SETTINGS["pg_stat_statements.track"] = "all"
