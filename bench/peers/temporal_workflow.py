"""(d) The checkout as a Temporal workflow: five activities, one after another.

Kept apart from the activities so that Temporal's workflow sandbox imports nothing
but the SDK; activities are named, not imported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

STEPS = ("reserve_stock", "debit_wallet", "credit_revenue", "confirm_order",
         "commit_reservation")
TASK_QUEUE = "bench-checkout"


@workflow.defn(name="Checkout")
class Checkout:
    """Runs the five steps in the saga's order; a refused step fails the workflow."""

    @workflow.run
    async def run(self, order: dict[str, Any]) -> str:
        retry = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["StepRefused"])
        for step in STEPS:
            await workflow.execute_activity(step, order, retry_policy=retry,
                                            start_to_close_timeout=timedelta(seconds=30))
        return "CONFIRMED"
