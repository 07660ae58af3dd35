"""Background tasks stop when asked, even when a library swallows one cancellation."""

from __future__ import annotations

import asyncio

from msa.tasks import stop_tasks


async def _swallows_one_cancellation(ticks: list[int]) -> None:
    """A loop whose first cancellation is lost inside a call, as with asyncio.wait_for's
    race on Python 3.11 or a driver that turns it into its own error."""
    swallowed = False
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
        ticks.append(1)


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_and_stops():
    ticks: list[int] = []
    task = asyncio.create_task(_swallows_one_cancellation(ticks))
    await asyncio.sleep(0.1)
    stuck = await stop_tasks([task], timeout=5, every=0.1)
    assert stuck == set()
    assert task.cancelled()
    assert ticks  # it did go on after the first cancellation


async def test_a_task_that_never_stops_is_reported_after_the_timeout():
    released = False

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if released:
                    raise
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await stop_tasks([task], timeout=0.3, every=0.1) == {task}
    released = True  # the test leaves no task behind
    assert await stop_tasks([task], timeout=5) == set()
