"""The client's guards: circuit breaker, bulkhead, retry budget, deadlines and trace headers."""

import asyncio

import pytest

from msa import deadline, tracing
from msa.client import (
    BulkheadFull,
    CircuitOpen,
    RemoteProblem,
    ServiceClient,
    ServiceTimeout,
)
from msa.metrics import BREAKER_STATE, CLIENT_REJECTED
from msa.resilience import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, RetryBudget
from msa.system import Edge
from msa.tools.fake_transport import FakeTransport, answer


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def client_with(handler, edge, caller="caller", target="callee"):
    return ServiceClient(caller, target, ["http://a"], edge=edge,
                         transport=FakeTransport(handler))


def test_the_breaker_opens_on_a_failure_ratio_and_half_opens_after_the_pause():
    clock = Clock()
    changes = []
    breaker = CircuitBreaker(0.5, min_calls=4, window=10, open_seconds=5,
                             on_change=changes.append, clock=clock)
    for ok in (True, False, True):
        breaker.record(breaker.allow(), ok)
    assert breaker.state == CLOSED  # 1 of 3 failed, and fewer than 4 calls
    breaker.record(breaker.allow(), False)
    assert breaker.state == OPEN and breaker.allow() is None
    clock.now += 5
    probe = breaker.allow()
    assert probe is True and breaker.state == HALF_OPEN
    assert breaker.allow() is None  # one probe at a time
    breaker.record(probe, ok=True)
    assert breaker.state == CLOSED
    assert changes == [OPEN, HALF_OPEN, CLOSED]


def test_a_failed_probe_opens_the_breaker_again_and_old_failures_age_out():
    clock = Clock()
    breaker = CircuitBreaker(0.5, min_calls=2, window=10, open_seconds=5, clock=clock)
    breaker.record(breaker.allow(), False)
    clock.now += 11  # the first failure left the window
    breaker.record(breaker.allow(), False)
    assert breaker.state == CLOSED
    breaker.record(breaker.allow(), False)
    assert breaker.state == OPEN
    clock.now += 5
    breaker.record(breaker.allow(), ok=False)
    assert breaker.state == OPEN and breaker.allow() is None


def test_a_late_answer_from_before_the_breaker_opened_does_not_close_it():
    clock = Clock()
    breaker = CircuitBreaker(0.5, min_calls=1, window=10, open_seconds=5, clock=clock)
    early = breaker.allow()
    breaker.record(breaker.allow(), False)
    assert breaker.state == OPEN
    breaker.record(early, ok=True)
    assert breaker.state == OPEN


def test_the_retry_budget_keeps_retries_to_a_share_of_calls():
    budget = RetryBudget(ratio=0.2, reserve=2)
    allowed = 0
    for _ in range(100):
        budget.on_call()
        allowed += budget.try_retry()
    assert 20 <= allowed <= 22


async def test_a_failing_callee_opens_the_breaker_and_calls_then_fail_fast():
    calls = []

    def handler(request):
        calls.append(request)
        return answer(503, {"title": "down"})

    edge = Edge(timeout=1.0, retries=0, breaker_min_calls=3, breaker_open_seconds=60)
    client = client_with(handler, edge, caller="shop", target="flaky")
    for _ in range(3):
        with pytest.raises(RemoteProblem):
            await client.get_json("/x")
    with pytest.raises(CircuitOpen):
        await client.get_json("/x")
    assert len(calls) == 3
    assert BREAKER_STATE.labels("shop", "flaky")._value.get() == OPEN
    assert CLIENT_REJECTED.labels("shop", "flaky", "circuit_open")._value.get() >= 1
    await client.aclose()


async def test_client_errors_do_not_open_the_breaker():
    def handler(request):
        return answer(404, {"title": "Not found"})

    client = client_with(handler, Edge(retries=0, breaker_min_calls=2))
    for _ in range(5):
        with pytest.raises(RemoteProblem):
            await client.get_json("/missing")
    assert client.breaker.state == CLOSED
    await client.aclose()


async def test_calls_beyond_the_bulkhead_fail_fast():
    release = asyncio.Event()

    async def handler(request):
        await release.wait()
        return answer(200, {})

    client = client_with(handler, Edge(timeout=5.0, max_concurrent=2))
    first = [asyncio.create_task(client.get_json("/slow")) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(BulkheadFull):
        await client.get_json("/slow")
    release.set()
    assert await asyncio.gather(*first) == [{}, {}]
    await client.aclose()


async def test_retries_stop_when_the_budget_is_spent():
    calls = []

    def handler(request):
        calls.append(request)
        return answer(503, {"title": "down"})

    edge = Edge(timeout=5.0, retries=3, retry_budget=0.0, breaker_min_calls=10_000)
    client = client_with(handler, edge)
    client.retry_budget.reserve = client.retry_budget._tokens = 2  # two retries in all
    for _ in range(3):
        with pytest.raises(RemoteProblem):
            await client.get_json("/x")
    assert len(calls) == 3 + 2
    await client.aclose()


async def test_the_callee_gets_the_callers_remaining_budget_and_never_more():
    seen = []

    def handler(request):
        seen.append(int(request.headers[deadline.DEADLINE_HEADER]))
        return answer(200, {})

    client = client_with(handler, Edge(timeout=5.0))
    await client.get_json("/x")
    with deadline.within(0.3):
        await client.get_json("/x")
    assert 4900 <= seen[0] <= 5000
    assert 200 <= seen[1] <= 300
    await client.aclose()


async def test_nothing_is_sent_once_the_callers_deadline_has_passed():
    calls = []

    def handler(request):
        calls.append(request)
        return answer(200, {})

    client = client_with(handler, Edge(timeout=5.0))
    with deadline.within(0.01):
        await asyncio.sleep(0.02)
        with pytest.raises(ServiceTimeout):
            await client.get_json("/x")
    assert calls == []
    await client.aclose()


async def test_each_attempt_is_a_client_span_whose_context_travels_in_traceparent():
    headers = []

    def handler(request):
        headers.append(request.headers.get("traceparent"))
        return answer(200, {})

    tracing.setup("tracer-test")
    client = client_with(handler, Edge(), caller="tracer-test", target="callee")
    with tracing.span("tracer-test", "work") as parent:
        await client.get_json("/x")
    trace_id = format(parent.get_span_context().trace_id, "032x")
    spans = tracing.finished_spans("tracer-test", trace_id)
    call = next(s for s in spans if s["kind"] == "client")
    assert call["name"] == "GET callee" and call["attributes"]["peer.service"] == "callee"
    assert headers[0].startswith(f"00-{trace_id}-{call['span_id']}-")
    await client.aclose()


async def test_retries_back_off_exponentially_with_jitter(monkeypatch):
    sleeps: list[float] = []
    draws: list[tuple[float, float]] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(seconds):
        sleeps.append(seconds)
        await real_sleep(0)

    def fixed_jitter(low, high):
        draws.append((low, high))
        return high  # the longest wait jitter allows

    monkeypatch.setattr("msa.client.asyncio.sleep", recorded_sleep)
    monkeypatch.setattr("msa.client.random.uniform", fixed_jitter)
    edge = Edge(timeout=30.0, retries=6, retry_budget=1.0, breaker_min_calls=10_000)
    client = client_with(lambda request: answer(503, {"title": "down"}), edge)
    client.retry_budget._tokens = 100
    with pytest.raises(RemoteProblem):
        await client.get_json("/x")
    await client.aclose()

    assert draws == [(0.5, 1.5)] * 6  # each wait drawn from ±50 % around its base
    assert sleeps == pytest.approx([0.075, 0.15, 0.3, 0.6, 1.2, 1.5])  # doubling, capped at 1 s
