"""What stops sign-in from being used against the service or against one account.

A password hash costs ~0.3 s of CPU on purpose, so three rules keep logins from
starving everyone (kept in memory, per identity process):

- `HashSlots`: at most N hashes in flight, and one per client address; one more is
  answered 429 with `Retry-After` at once instead of waiting in a queue that ends in
  a 504.
- `FailureThrottle`, per account (the email tried) and per client address: after a
  few free failures each further one locks the key for a delay that doubles (1 s,
  2 s, 4 s … up to a cap); a locked key is answered 429 with `Retry-After` before
  any hash, even with the right password; a success clears the account and the address.
- (at the gateway) a per-address request limit on the routes that hash, far below the
  general one: see `gateway.limits`.

Settings (environment): `IDENTITY_HASH_SLOTS` (default: the number of CPUs, at least
2), `IDENTITY_HASH_SLOTS_PER_ADDRESS` (1), `IDENTITY_ACCOUNT_FREE_FAILURES` (5),
`IDENTITY_ADDRESS_FREE_FAILURES` (20), `IDENTITY_THROTTLE_CAP_SECONDS` (300).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from msa import Problem


class TooManyLogins(Problem):
    """429 with the seconds to wait in `Retry-After`."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, wait: float) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, math.ceil(wait)))}


class HashSlots:
    """A bound on the password hashes in flight in this process, and per client address.

    One address may hold at most `per_holder` of the slots, so a flood from one address
    leaves the others to everyone else.
    """

    def __init__(self, limit: int, per_holder: int = 1) -> None:
        self.limit = limit
        self.per_holder = per_holder
        self.busy = 0
        self._held: dict[str, int] = {}

    @contextlib.contextmanager
    def take(self, holder: str = "") -> Iterator[None]:
        """Hold a slot for one hash for `holder` (an address; "" is not counted apart);
        TooManyLogins at once when none is free, or `holder` holds its share."""
        held = self._held.get(holder, 0)
        if self.busy >= self.limit or (holder and held >= self.per_holder):
            raise TooManyLogins("sign-in is busy; try again in a moment", 1.0)
        self.busy += 1
        if holder:
            self._held[holder] = held + 1
        try:
            yield
        finally:
            self.busy -= 1
            if holder:
                left = self._held.pop(holder) - 1
                if left:
                    self._held[holder] = left


@dataclass
class _Record:
    failures: int
    locked_until: float
    last: float


class FailureThrottle:
    """Growing delays after repeated failures of one key (an account, an address)."""

    def __init__(self, free: int, *, cap: float = 300.0, forget_after: float = 900.0,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.cap = cap
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again (0.0: now)."""
        record = self._records.get(key)
        return 0.0 if record is None else max(0.0, record.locked_until - self._clock())

    def failed(self, key: str) -> None:
        """Count a failure of `key`; past the free ones, lock it for a doubling delay."""
        now = self._clock()
        record = self._records.pop(key, None)
        if record is None or now - record.last > self.forget_after:
            record = _Record(0, 0.0, now)
        record.failures += 1
        record.last = now
        beyond = record.failures - self.free
        if beyond > 0:
            record.locked_until = now + min(self.cap, 2.0 ** min(beyond - 1, 30))
        if len(self._records) >= self.max_keys:
            self._forget_old(now)
        self._records[key] = record  # most recent last

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _forget_old(self, now: float) -> None:
        self._records = {k: r for k, r in self._records.items()
                         if now - r.last < self.forget_after or r.locked_until > now}
        excess = len(self._records) - self.max_keys // 2
        for key in list(self._records)[:max(0, excess)]:  # the longest quiet go first
            del self._records[key]


@dataclass
class LoginGuard:
    """The three rules together, as the login route uses them."""

    slots: HashSlots
    accounts: FailureThrottle
    addresses: FailureThrottle

    @classmethod
    def from_environment(cls) -> LoginGuard:
        """Built from the `IDENTITY_*` settings above; ValueError names a bad one."""
        def number(name: str, default: float, minimum: float) -> float:
            raw = os.environ.get(name)
            value = float(raw) if raw else default
            if value < minimum:
                raise ValueError(f"{name} must be at least {minimum:g}")
            return value

        cap = number("IDENTITY_THROTTLE_CAP_SECONDS", 300, 1)
        return cls(
            HashSlots(int(number("IDENTITY_HASH_SLOTS", max(2, os.cpu_count() or 1), 1)),
                      int(number("IDENTITY_HASH_SLOTS_PER_ADDRESS", 1, 1))),
            FailureThrottle(int(number("IDENTITY_ACCOUNT_FREE_FAILURES", 5, 1)), cap=cap),
            FailureThrottle(int(number("IDENTITY_ADDRESS_FREE_FAILURES", 20, 1)), cap=cap),
        )

    def check(self, account: str, address: str) -> None:
        """TooManyLogins if the account or the address must wait."""
        wait = max(self.accounts.wait(account), self.addresses.wait(address))
        if wait > 0:
            raise TooManyLogins("too many failed sign-ins for this account or from this "
                                "address; wait before trying again", wait)

    def failed(self, account: str, address: str) -> None:
        self.accounts.failed(account)
        self.addresses.failed(address)

    def succeeded(self, account: str, address: str) -> None:
        self.accounts.succeeded(account)
        self.addresses.succeeded(address)
