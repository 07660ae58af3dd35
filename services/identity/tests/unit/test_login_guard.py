"""The sign-in rules on their own, with a clock the test moves."""

from __future__ import annotations

import pytest

from identity.login_guard import FailureThrottle, HashSlots, LoginGuard, TooManyLogins


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_free_ones_lock_for_doubling_delays_up_to_the_cap():
    clock = Clock()
    throttle = FailureThrottle(3, cap=10.0, clock=clock)
    delays = []
    for _ in range(8):
        throttle.failed("jane@example.com")
        delays.append(throttle.wait("jane@example.com"))
        clock.now += delays[-1]  # the next try comes once allowed
    assert delays == [0, 0, 0, 1, 2, 4, 8, 10]
    assert throttle.wait("someone@example.com") == 0


def test_a_success_clears_the_account_and_old_failures_are_forgotten():
    clock = Clock()
    throttle = FailureThrottle(1, forget_after=60.0, clock=clock)
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.wait("a") == 1
    throttle.succeeded("a")
    assert throttle.wait("a") == 0
    throttle.failed("b")
    clock.now += 61
    throttle.failed("b")  # the first failure was long ago: this is the only one
    assert throttle.wait("b") == 0


def test_the_number_of_keys_stays_bounded():
    clock = Clock()
    throttle = FailureThrottle(1, max_keys=100, forget_after=1.0, clock=clock)
    for i in range(1000):
        throttle.failed(f"user{i}@example.com")
        clock.now += 0.01
    assert len(throttle._records) <= 100


def test_an_address_failing_on_many_accounts_is_locked_for_all_of_them():
    clock = Clock()
    guard = LoginGuard(HashSlots(2), FailureThrottle(5, clock=clock),
                       FailureThrottle(3, clock=clock))
    for i in range(4):
        guard.check(f"user{i}@example.com", "198.51.100.7")
        guard.failed(f"user{i}@example.com", "198.51.100.7")
    with pytest.raises(TooManyLogins) as refused:
        guard.check("new@example.com", "198.51.100.7")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    guard.check("new@example.com", "203.0.113.1")  # another address is not held back


def test_hashes_past_the_slots_are_refused_at_once_and_a_freed_slot_is_reused():
    slots = HashSlots(2)
    with slots.take(), slots.take(), pytest.raises(TooManyLogins), slots.take():
        pass
    with slots.take():
        assert slots.busy == 1
    assert slots.busy == 0


def test_settings_are_read_from_the_environment_and_checked(monkeypatch):
    monkeypatch.setenv("IDENTITY_HASH_SLOTS", "3")
    monkeypatch.setenv("IDENTITY_ACCOUNT_FREE_FAILURES", "7")
    guard = LoginGuard.from_environment()
    assert (guard.slots.limit, guard.accounts.free, guard.addresses.free) == (3, 7, 20)
    monkeypatch.setenv("IDENTITY_HASH_SLOTS", "0")
    with pytest.raises(ValueError, match="IDENTITY_HASH_SLOTS"):
        LoginGuard.from_environment()


def test_one_address_holds_at_most_its_share_of_the_slots():
    slots = HashSlots(3, per_holder=1)
    with slots.take("198.51.100.7"):
        with pytest.raises(TooManyLogins), slots.take("198.51.100.7"):
            pass
        with slots.take("203.0.113.1"), slots.take(""):
            assert slots.busy == 3
    with slots.take("198.51.100.7"):  # released: the address may hash again
        assert slots.busy == 1
