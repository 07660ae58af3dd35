"""Stopping background tasks for certain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

_log = logging.getLogger("msa.tasks")
CLOSE_TIMEOUT = 10.0  # seconds for background tasks to stop once cancelled


async def stop_tasks(tasks: Sequence[asyncio.Task[Any]], timeout: float = CLOSE_TIMEOUT,
                     every: float = 0.5) -> set[asyncio.Task[Any]]:
    """Cancel `tasks` and wait up to `timeout` seconds for them; return (and log) those
    still running. The errors of those that ended are retrieved: they were logged where
    they happened.

    A task is cancelled again every `every` seconds while it runs: a library that swallows
    a cancellation (asyncio.wait_for's race on Python 3.11, a driver that turns it into its
    own error) must not leave a loop that never ends, holding the event loop open."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    while pending and (left := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(every, left))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
    for task in pending:
        _log.error("background task %s did not stop within %gs of its cancellation",
                   task.get_name(), timeout)
    return pending
