"""Token buckets: a burst, then the rate; a wait in whole seconds; memory stays bounded."""

from __future__ import annotations

import pytest

from gateway.limits import RateLimits, TokenBuckets, TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("ann") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("ann") == 0.0
    assert buckets.take("bob") == 0.0  # every key has its own bucket


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    clock.now += 3600
    assert [buckets.take("ann") > 0 for _ in range(3)] == [False, False, True]


def test_a_refusal_says_when_to_retry_in_whole_seconds() -> None:
    clock = Clock()
    limits = RateLimits(TokenBuckets(0.25, 1, clock=clock), TokenBuckets(100.0, 100, clock=clock))
    limits.check_user("ann")
    with pytest.raises(TooManyRequests) as refused:
        limits.check_user("ann")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "4"}
    assert "user" in refused.value.detail
    limits.check_user("bob")
    limits.check_address("127.0.0.1")


def test_many_clients_do_not_grow_memory_without_bound() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=5, max_keys=100, clock=clock)
    for n in range(1000):
        buckets.take(f"client-{n}")
        clock.now += 0.001
    assert len(buckets) <= 100
    busy = TokenBuckets(rate=1.0, burst=1, max_keys=10, clock=clock)
    busy.take("hammer")
    for n in range(50):  # idle buckets go first; the one still empty is kept
        busy.take(f"client-{n}")
        if n % 5 == 0:
            assert busy.take("hammer") > 0
    assert len(busy) <= 10
