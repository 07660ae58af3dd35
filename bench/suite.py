"""The whole bench: start the systems once, run each figure, keep what it measured.

Systems are started once and stay up for every figure that needs them; a system
that cannot be installed or started is recorded with its reason and its rows say
so in the report. Nothing is estimated in its place.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.figures import book_page, checkout, events, platform
from bench.measure import commit, machine
from bench.ours import ROOT, OurSystem
from bench.peers.launch import PeerSystem

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
            return cls("quick", checkout.Profile(rounds=1, closed_seconds=3, open_seconds=3,
                                                 hot_seconds=2, workers=8),
                       customers=16, seconds=2, rounds=1, cold_starts=1, events=300)
        return cls("full", checkout.Profile(), customers=64, seconds=8, rounds=3,
                   cold_starts=3, events=3000)


@dataclass
class Systems:
    """The running systems, by name, and those that could not start (name → reason)."""

    running: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, make: Callable[[], Any], progress: Callable[[str], None]) -> None:
        progress(f"starting {name}")
        try:
            system = make()
            system.start()
        except Exception as exc:
            self.failed[name] = f"could not start: {type(exc).__name__}: {exc}"[:300]
            progress(f"{name} did not start: {self.failed[name]}")
            return
        self.running[name] = system

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
    try:
        ours = [mode for mode in ("process", "monolith")
                if {"checkout", "book-page"} & set(names)
                or (mode == "process" and {"call", "events"} & set(names))]
        for mode in ours:
            systems.start(mode, lambda mode=mode: OurSystem(mode, profile.customers), progress)
        if "checkout" in names:
            books = _books(systems)
            for peer in PEERS:
                systems.start(peer, lambda peer=peer: PeerSystem(peer, books, profile.customers),
                              progress)
            targets = [systems.running[name] for name in checkout.LETTERS
                       if name in systems.running]
            failed = {name: reason for name, reason in systems.failed.items()
                      if name in checkout.LETTERS}
            progress("figure: checkout, five ways")
            result["figures"]["checkout"] = checkout.run(targets, failed, profile.checkout)
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


def _books(systems: Systems) -> list[dict[str, Any]]:
    """The catalogue our system serves (ids and prices), for the peers to sell too."""
    for name in ("process", "monolith"):
        if name in systems.running:
            return list(systems.running[name].books)
    import uuid

    from catalog.seed import seed_books

    return [{"id": str(getattr(book, "id", uuid.uuid4())), "price": book.price_cents}
            for book in seed_books()]
