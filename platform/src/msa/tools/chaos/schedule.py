"""Fault schedules: which fault, when, against what — a pure function of the seed.

`plan(seed, profile, targets)` draws every decision from one `random.Random`
seeded with the seed and the profile's name, so the same seed (and profile, kinds
and system) replays exactly the same schedule; the run's timing differs, the
faults do not.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from msa.errors import ConfigError
from msa.system import System
from msa.tools.runner.plan import instance_names

FAULT_KINDS = ("kill", "pause", "nats", "postgres", "slow-link", "broken-link", "duplicate")
"""kill: SIGKILL a service process · pause: SIGSTOP, hold, SIGCONT · nats: SIGKILL the
NATS server · postgres: immediate shutdown (SIGQUIT to the postmaster) · slow-link:
latency on a service's database or NATS connection · broken-link: that link drops
or cuts its connections · duplicate: deliver a window of published events again."""
LINK_KINDS = frozenset({"slow-link", "broken-link"})
_WEIGHTS = {"kill": 3, "pause": 2, "nats": 1, "postgres": 1, "slow-link": 2,
            "broken-link": 2, "duplicate": 2}


@dataclass(frozen=True)
class Profile:
    """How long and how hard: the fault phase's length, its fault count and its load."""

    name: str
    duration: float
    """Seconds of the fault phase (the workload runs throughout)."""
    faults: int
    """Faults in `duration` (scaled when the duration is overridden)."""
    clients: int
    """Concurrent simulated clients."""
    users: int
    """Accounts the clients act as (each belongs to one client)."""
    warmup: float = 5.0
    cooldown: float = 8.0
    hold: tuple[float, float] = (2.0, 5.0)
    """Seconds a pause or a link fault lasts."""
    linked: int = 3
    """Services placed behind fault proxies (their database and NATS links)."""
    quiet_timeout: float = 180.0


PROFILES = {
    "short": Profile("short", duration=75, faults=16, clients=8, users=32),
    "long": Profile("long", duration=660, faults=120, clients=8, users=128, warmup=10,
                    cooldown=20, hold=(2.0, 8.0), linked=4, quiet_timeout=300),
}


@dataclass(frozen=True)
class FaultTargets:
    """What a system offers to be hurt: its processes, links and event publishers."""

    instances: tuple[str, ...]
    databases: tuple[str, ...]
    messaging: tuple[str, ...]
    publishers: tuple[str, ...]
    """Services publishing events that some other service consumes."""

    @classmethod
    def of(cls, system: System) -> FaultTargets:
        consumed = system.consumers_of
        return cls(
            instances=tuple(name for name, _ in instance_names(system, "process")),
            databases=tuple(svc.name for svc in system.with_database()),
            messaging=tuple(svc.name for svc in system.services.values()
                            if svc.database and (svc.publishes or svc.consumes)),
            publishers=tuple(svc.name for svc in system.services.values()
                             if svc.database and any(consumed.get(e) for e in svc.publishes)),
        )


@dataclass(frozen=True)
class FaultEvent:
    """One fault: at `at` seconds into the fault phase, `kind` against `target`."""

    at: float
    kind: str
    target: str
    hold: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = " ".join(f"{key}={value}" for key, value in sorted(self.params.items()))
        held = f" for {self.hold:g}s" if self.hold else ""
        return f"{self.kind} {self.target}{held}" + (f" ({extra})" if extra else "")


@dataclass(frozen=True)
class Schedule:
    """Every fault of a run, in time order, and the services behind fault proxies."""

    seed: int
    profile: str
    duration: float
    kinds: tuple[str, ...]
    linked: tuple[str, ...]
    events: tuple[FaultEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def profile_named(name: str) -> Profile:
    """The profile called `name`; ConfigError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})") from None


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """`kinds` without repeats, in canonical order; ConfigError on an unknown one."""
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    if not kinds:
        raise ConfigError("no fault kinds chosen")
    return tuple(kind for kind in FAULT_KINDS if kind in kinds)


def plan(seed: int, profile: Profile, targets: FaultTargets, *,
         kinds: Sequence[str] = FAULT_KINDS, duration: float | None = None) -> Schedule:
    """The schedule for `seed`: `profile.faults` faults (scaled to `duration`), each
    chosen kind at least once when there is room, spread over the fault phase."""
    chosen = check_kinds(kinds)
    length = profile.duration if duration is None else duration
    if not math.isfinite(length) or length <= 0:
        raise ConfigError(f"duration must be a positive number of seconds, not {length:g}")
    rng = random.Random(f"msa-chaos:{seed}:{profile.name}")
    linked = tuple(sorted(rng.sample(targets.databases,
                                     min(profile.linked, len(targets.databases)))))
    if not LINK_KINDS & set(chosen):
        linked = ()
    count = max(1, round(profile.faults * length / profile.duration))
    picks = list(chosen[:count]) + rng.choices(
        chosen, weights=[_WEIGHTS[kind] for kind in chosen], k=max(0, count - len(chosen)))
    rng.shuffle(picks)
    start = min(profile.warmup, length / 4)
    span = max(length - start - min(profile.cooldown, length / 4), 0.0)
    slot = span / count
    events = tuple(
        _event(rng, kind, round(start + i * slot + rng.uniform(0, slot / 2), 2), profile,
               targets, linked)
        for i, kind in enumerate(picks))
    return Schedule(seed, profile.name, length, chosen, linked, events)


def _event(rng: random.Random, kind: str, at: float, profile: Profile, targets: FaultTargets,
           linked: tuple[str, ...]) -> FaultEvent:
    hold = round(rng.uniform(*profile.hold), 1)
    if kind == "kill":
        return FaultEvent(at, kind, rng.choice(targets.instances))
    if kind == "pause":
        return FaultEvent(at, kind, rng.choice(targets.instances), hold)
    if kind in ("nats", "postgres"):
        return FaultEvent(at, kind, kind)
    if kind == "duplicate":
        return FaultEvent(at, kind, rng.choice(targets.publishers),
                          params={"window": rng.randint(10, 40)})
    service = rng.choice(linked)
    links = ["db", "nats"] if service in targets.messaging else ["db"]
    params: dict[str, Any] = {"link": rng.choice(links)}
    if kind == "slow-link":
        params["latency_ms"] = rng.choice([50, 150, 400, 1000])
    else:
        params["mode"] = rng.choice(["drop", "cut"])
    return FaultEvent(at, kind, service, hold, params)
