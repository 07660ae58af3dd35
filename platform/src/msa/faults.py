"""Test-only fault hooks: kill this process at a named point.

Off by default. Armed with `MSA_FAULTS="point[@n],..."` at start (die at the n-th
time the point is reached, default the first) or at run time through
`POST /internal/faults`, a route that exists only when `MSA_ENV` is dev or test.
Never in production: settings refuse `MSA_FAULTS` there, the route is not
mounted, and `arm` checks again.
Crash tests use it to stop a process exactly between two steps of its work.
"""

from __future__ import annotations

import logging
import os
import signal

_armed: dict[str, int] = {}
_hits: dict[str, int] = {}
_log = logging.getLogger("msa.faults")


BREAKS = ("break:inbox-dedupe", "break:compensation")
"""Deliberately broken builds, to prove the checkers notice: no inbox dedupe; sagas
that skip their compensations."""


def arm(spec: str, env: str) -> None:
    """Arm the points in `spec` ("name@n,..."); refused outside dev/test."""
    if not spec:
        return
    if env not in ("dev", "test"):
        raise RuntimeError("fault hooks can only be armed in dev or test")
    for item in spec.split(","):
        name, _, nth = item.strip().partition("@")
        if name in BREAKS:
            _break(name)
        elif name:
            _armed[name] = int(nth or 1)


def _break(name: str) -> None:
    if name == "break:inbox-dedupe":
        from msa.messaging import inbox

        inbox.DEDUPE = False
    elif name == "break:compensation":
        from msa.sagas import engine

        engine.SKIP_COMPENSATION = True
    _log.warning("deliberately broken build: %s", name)


def disarm() -> None:
    _armed.clear()
    _hits.clear()


def armed() -> dict[str, int]:
    return dict(_armed)


def point(name: str) -> None:
    """A place where a crash test may kill the process (SIGKILL: no cleanup runs)."""
    if not _armed or name not in _armed:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _armed[name]:
        _log.warning("fault point %s reached: killing this process", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
