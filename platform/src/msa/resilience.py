"""Guards for the calls to one downstream service: circuit breaker, bulkhead, retry budget.

Each `ServiceClient` holds one of each (configured by its `msa.system.Edge`), so a
failing or slow callee costs its callers little: the breaker fails calls fast
while the callee is down and lets one probe through now and then, the bulkhead
caps how many calls may wait on it at once, and the retry budget keeps retries a
small share of the traffic so that retries cannot multiply an overload.

All three are plain counters touched from one event loop: no locks, no tasks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", HALF_OPEN: "half_open", OPEN: "open"}

Clock = Callable[[], float]


class _Window:
    """Calls and failures in the last `seconds`, in one-second buckets."""

    def __init__(self, seconds: float) -> None:
        self._size = max(1, math.ceil(seconds))
        self._stamps = [-1] * self._size
        self._calls = [0] * self._size
        self._failures = [0] * self._size

    def add(self, now: float, failed: bool) -> None:
        second = int(now)
        slot = second % self._size
        if self._stamps[slot] != second:
            self._stamps[slot], self._calls[slot], self._failures[slot] = second, 0, 0
        self._calls[slot] += 1
        self._failures[slot] += failed

    def totals(self, now: float) -> tuple[int, int]:
        oldest = int(now) - self._size
        calls = failures = 0
        for stamp, count, failed in zip(self._stamps, self._calls, self._failures, strict=True):
            if stamp > oldest:
                calls += count
                failures += failed
        return calls, failures

    def clear(self) -> None:
        self._stamps = [-1] * self._size


class CircuitBreaker:
    """Closed → open when too many recent calls failed → half-open after a pause → closed.

    `allow()` answers None when a call must not be sent, otherwise a ticket to
    hand back to `record(ticket, ok)` (or `abandon(ticket)` if the call ended
    without a verdict, e.g. cancelled). A ticket remembers whether it was the
    half-open probe, so a slow call started before the breaker opened cannot
    close it again.
    """

    def __init__(self, failure_ratio: float = 0.5, min_calls: int = 10, window: float = 10.0,
                 open_seconds: float = 5.0, *, on_change: Callable[[int], None] | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.failure_ratio = failure_ratio
        self.min_calls = min_calls
        self.open_seconds = open_seconds
        self.state = CLOSED
        self._window = _Window(window)
        self._open_until = 0.0
        self._probing = False
        self._on_change = on_change
        self._clock = clock

    def allow(self) -> bool | None:
        """None: refuse the call. Otherwise True for the half-open probe, False for a call."""
        if self.state == CLOSED:
            return False
        if self.state == OPEN:
            if self._clock() < self._open_until:
                return None
            self._set(HALF_OPEN)
        if self._probing:
            return None
        self._probing = True
        return True

    def record(self, probe: bool | None, ok: bool) -> None:
        """The verdict on a call that `allow()` let through."""
        if probe is None:
            return
        if probe:
            self._probing = False
            if ok:
                self._window.clear()
                self._set(CLOSED)
            else:
                self._trip()
            return
        if self.state != CLOSED:
            return  # a call from before the breaker opened: the probe decides
        now = self._clock()
        self._window.add(now, not ok)
        if not ok:
            calls, failures = self._window.totals(now)
            if calls >= self.min_calls and failures >= self.failure_ratio * calls:
                self._trip()

    def abandon(self, probe: bool | None) -> None:
        """A call ended without a verdict: free the probe slot if it held it."""
        if probe:
            self._probing = False

    def _trip(self) -> None:
        self._open_until = self._clock() + self.open_seconds
        self._set(OPEN)

    def _set(self, state: int) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)


class Bulkhead:
    """At most `limit` calls in flight; the next one is refused at once, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def try_enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active = max(0, self.active - 1)


class RetryBudget:
    """Retries may add at most `ratio` of the calls, after a small initial allowance.

    A token bucket (as in Finagle): every call earns `ratio` of a token, every
    retry spends one; the bucket holds at most `reserve` tokens and starts full,
    so a quiet client can still retry a few times.
    """

    def __init__(self, ratio: float = 0.2, reserve: float = 10.0) -> None:
        self.ratio = ratio
        self.reserve = reserve
        self._tokens = reserve

    def on_call(self) -> None:
        self._tokens = min(self.reserve, self._tokens + self.ratio)

    def try_retry(self) -> bool:
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
