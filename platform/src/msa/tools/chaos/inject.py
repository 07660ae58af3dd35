"""Carrying out a schedule's faults against a running system, and healing them.

Each fault is injected, held if it has a hold, undone (resume a paused process,
heal a link) and then followed until the system has recovered from it: a killed
process is running again and ready, a restarted server is back. The span from
injection to recovery is the fault's window; operations overlapping a window
count as "during faults" in the report.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from typing import Any

from msa.checks import SystemAccess
from msa.errors import MsaError
from msa.tools.chaos.control import wait_back
from msa.tools.chaos.redeliver import redeliver
from msa.tools.chaos.schedule import FaultEvent
from msa.tools.chaos.target import ChaosTarget, link_name
from msa.tools.runner.processes import signal_group

RECOVERY_TIMEOUT = 90.0
"""Seconds a killed process or server may take to be back (a loaded 2-core machine)."""


@dataclass
class FaultRecord:
    """What became of one scheduled fault (times in seconds on the run's clock)."""

    event: FaultEvent
    status: str = "pending"
    """injected, skipped (its target was busy or down), or error."""
    started: float = 0.0
    ended: float = 0.0
    recovery: float | None = None
    """Seconds from the fault's end to the target running and ready again."""
    detail: str = ""

    def to_dict(self, origin: float = 0.0) -> dict[str, Any]:
        """JSON-ready, with times in seconds since `origin` (the fault phase's start)."""
        return {"at": round(self.started - origin, 2), "kind": self.event.kind,
                "target": self.event.target, "hold": self.event.hold,
                "params": self.event.params, "status": self.status,
                "window": [round(self.started - origin, 2), round(self.ended - origin, 2)],
                "recovery_s": None if self.recovery is None else round(self.recovery, 2),
                "detail": self.detail}


class Injector:
    """Injects faults into `target`; `now()` is the clock the records use."""

    def __init__(self, target: ChaosTarget, access: SystemAccess, now: Any) -> None:
        self.target = target
        self.access = access
        self.now = now
        self.records: list[FaultRecord] = []
        self._busy: set[str] = set()
        self._paused: dict[int, str] = {}

    async def inject(self, event: FaultEvent) -> FaultRecord:
        """Inject `event`, hold it, undo it and wait for recovery; never raises."""
        record = FaultRecord(event, started=self.now())
        self.records.append(record)
        key = event.target if event.kind in ("kill", "pause") else f"{event.kind}:{event.target}"
        if key in self._busy or (event.kind in ("nats", "postgres") and event.kind in self._busy):
            record.status, record.detail, record.ended = "skipped", "target busy", self.now()
            return record
        self._busy.add(key)
        try:
            record.detail = await getattr(self, "_" + event.kind.replace("-", "_"))(event, record)
            record.status = "injected"
        except (MsaError, OSError, TimeoutError) as exc:
            record.status, record.detail = "error", str(exc)[:200]
        except Exception as exc:  # a fault must never end the run
            record.status, record.detail = "error", f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self._busy.discard(key)
            record.ended = self.now()
        return record

    async def heal(self) -> None:
        """Resume every paused process and heal every link."""
        for pid in list(self._paused):
            signal_group(pid, signal.SIGCONT)
            self._paused.pop(pid, None)
        if self.target.proxies is not None:
            await asyncio.to_thread(self.target.proxies.heal)

    # -- the kinds -------------------------------------------------------------

    async def _kill(self, event: FaultEvent, record: FaultRecord) -> str:
        pid = self.target.control.signal(event.target, signal.SIGKILL)
        return await self._recovered(event.target, pid, record, f"SIGKILL pid {pid}")

    async def _pause(self, event: FaultEvent, record: FaultRecord) -> str:
        pid = self.target.control.signal(event.target, signal.SIGSTOP)
        self._paused[pid] = event.target
        try:
            await asyncio.sleep(event.hold)
        finally:
            signal_group(pid, signal.SIGCONT)
            self._paused.pop(pid, None)
        return f"SIGSTOP pid {pid}, SIGCONT after {event.hold:g}s"

    async def _nats(self, event: FaultEvent, record: FaultRecord) -> str:
        pid = self.target.control.signal("nats", signal.SIGKILL)
        return await self._recovered("nats", pid, record, f"SIGKILL nats-server pid {pid}")

    async def _postgres(self, event: FaultEvent, record: FaultRecord) -> str:
        # SIGQUIT to the postmaster is PostgreSQL's immediate shutdown: no checkpoint,
        # crash recovery on the next start.
        pid = self.target.control.signal("postgres", signal.SIGQUIT)
        return await self._recovered("postgres", pid, record,
                                     f"immediate shutdown (SIGQUIT) of postmaster {pid}")

    async def _slow_link(self, event: FaultEvent, record: FaultRecord) -> str:
        latency = event.params["latency_ms"] / 1000
        await self._link(event, "slow", latency)
        return f"{event.params['link']} link +{event.params['latency_ms']} ms for {event.hold:g}s"

    async def _broken_link(self, event: FaultEvent, record: FaultRecord) -> str:
        await self._link(event, event.params["mode"])
        return f"{event.params['link']} link {event.params['mode']} for {event.hold:g}s"

    async def _duplicate(self, event: FaultEvent, record: FaultRecord) -> str:
        done = await redeliver(self.access, self.target.nats_url, event.target,
                               int(event.params["window"]))
        return done.describe()

    # -- helpers ---------------------------------------------------------------

    async def _link(self, event: FaultEvent, mode: Any, latency: float = 0.0) -> None:
        hub = self.target.proxies
        name = link_name(event.target, event.params["link"])
        if hub is None or name not in hub.proxies:
            raise MsaError(f"no fault proxy for {name} (link faults need a system chaos starts)")
        await asyncio.to_thread(hub.set_fault, name, mode, latency)
        try:
            await asyncio.sleep(event.hold)
        finally:
            await asyncio.to_thread(hub.heal, name)

    async def _recovered(self, name: str, pid: int, record: FaultRecord, what: str) -> str:
        began = time.monotonic()
        back = await wait_back(self.target.control, name, pid, RECOVERY_TIMEOUT)
        if back is None:
            raise MsaError(f"{what}: {name} not back after {RECOVERY_TIMEOUT:g}s")
        record.recovery = time.monotonic() - began
        return f"{what}; back in {record.recovery:.1f}s"
