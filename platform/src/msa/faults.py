"""Test-only fault hooks: kill, pause or fail this process at a named point.

Off by default. Armed with `MSA_FAULTS="point[@n],..."` at start (die at the n-th
time the point is reached, default the first) or at run time through
`POST /internal/faults`, a route that exists only when `MSA_ENV` is dev or test.
Never in production: settings refuse `MSA_FAULTS` there, the route is not
mounted, and `arm` checks again.
Crash tests use it to stop a process exactly between two steps of its work.

Two other kinds, named by a prefix:
- `stop:point[@n]` pauses the process with SIGSTOP instead (as a long GC pause or
  a frozen VM would); it goes on where it was after a SIGCONT. Takeover tests use
  it to let another replica take work over from a driver that is not dead.
- `fail:point[@n]` raises `InjectedFault` at the point, from the n-th time on,
  every time until disarmed (a bug until it is fixed); e.g. a consumer that keeps
  failing is dead-lettered.
"""

from __future__ import annotations

import logging
import os
import signal

_armed: dict[str, int] = {}
_hits: dict[str, int] = {}
_log = logging.getLogger("msa.faults")


class InjectedFault(RuntimeError):
    """Raised at a `fail:` point."""


INBOX_DEDUPE_OFF = "break:inbox-dedupe"
COMPENSATION_OFF = "break:compensation"
BREAKS = (INBOX_DEDUPE_OFF, COMPENSATION_OFF)
"""Deliberately broken builds, to prove the checkers notice: no inbox dedupe; sagas
that skip their compensations. The code they break asks `broken(name)`."""
_broken: set[str] = set()


def arm(spec: str, env: str) -> None:
    """Arm the points in `spec` ("name@n,stop:name@n,fail:name@n,..."); refused outside
    dev/test."""
    if not spec:
        return
    if env not in ("dev", "test"):
        raise RuntimeError("fault hooks can only be armed in dev or test")
    for item in spec.split(","):
        name, _, nth = item.strip().partition("@")
        if name in BREAKS:
            _broken.add(name)
            _log.warning("deliberately broken build: %s", name)
        elif name:
            _armed[name] = int(nth or 1)
            _hits.pop(name, None)  # counted afresh from now


def broken(name: str) -> bool:
    """Whether this process runs the deliberately broken build `name` (one of BREAKS)."""
    return name in _broken


def disarm() -> None:
    _armed.clear()
    _hits.clear()


def armed() -> dict[str, int]:
    return dict(_armed)


def point(name: str) -> None:
    """A place where a test may kill the process (SIGKILL: no cleanup runs), pause it
    (SIGSTOP) or make it fail (`InjectedFault`), as armed."""
    if not _armed:
        return
    if _reached(name) == 0:
        _signal(name, "killing", signal.SIGKILL)
    if _reached(f"stop:{name}") == 0:
        _signal(name, "pausing", signal.SIGSTOP)
    if (late := _reached(f"fail:{name}")) is not None and late >= 0:
        _log.warning("fault point %s reached: failing", name)
        raise InjectedFault(f"injected fault at {name}")


def _reached(armed_as: str) -> int | None:
    """Count a hit; how many hits past the armed one this is (0: the one), None if unarmed."""
    if armed_as not in _armed:
        return None
    _hits[armed_as] = _hits.get(armed_as, 0) + 1
    return _hits[armed_as] - _armed[armed_as]


def _signal(name: str, what: str, sig: signal.Signals) -> None:
    _log.warning("fault point %s reached: %s this process", name, what)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), sig)
