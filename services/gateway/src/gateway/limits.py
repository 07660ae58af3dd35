"""Rate limits: token buckets per signed-in user and per client address, in memory.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request
takes one. An empty bucket answers 429 with `Retry-After`. Each gateway replica
limits on its own (a replica sees its share of the traffic); buckets that have
refilled are forgotten, so memory stays bounded however many clients come by.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.exceptions import HTTPException


class TooManyRequests(HTTPException):
    """429, with the seconds to wait in `Retry-After`."""

    def __init__(self, who: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(429, f"too many requests from this {who}; retry in {seconds}s",
                         headers={"Retry-After": str(seconds)})


class TokenBuckets:
    """One token bucket per key (a user id, an address)."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, when), oldest first

    def take(self, key: str) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is."""
        now = self._clock()
        tokens, since = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) * self.rate)
        if len(self._buckets) >= self.max_keys:
            self._forget_full(now)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
        excess = len(self._buckets) - self.max_keys // 2
        if excess > 0:  # still crowded: forget the longest idle (they come first)
            for key in list(self._buckets)[:excess]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimits:
    """The gateway's limits: per user, per address, and per address on the routes that
    hash a password (far lower: each such request costs ~0.3 s of identity's CPU)."""

    def __init__(self, users: TokenBuckets, addresses: TokenBuckets,
                 logins: TokenBuckets | None = None) -> None:
        self.users = users
        self.addresses = addresses
        self.logins = logins if logins is not None else TokenBuckets(1.0, 10)

    def check_login(self, address: str) -> None:
        """TooManyRequests when `address` signs in or registers too often."""
        wait = self.logins.take(address)
        if wait:
            raise TooManyRequests("address", wait)

    def check_address(self, address: str) -> None:
        """TooManyRequests when `address` is over its limit."""
        wait = self.addresses.take(address)
        if wait:
            raise TooManyRequests("address", wait)

    def check_user(self, user_id: str) -> None:
        """TooManyRequests when the user is over their limit."""
        wait = self.users.take(user_id)
        if wait:
            raise TooManyRequests("user", wait)
