"""Messaging: outbox and relay, inbox consumers, dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from msa.messaging.broker import Broker
from msa.messaging.inbox import Delivery, Subscription, run_consumer, subscribe
from msa.messaging.outbox import emit, republish, run_relay

if TYPE_CHECKING:
    from msa.runtime import Runtime

__all__ = [
    "Broker", "Delivery", "Subscription", "emit", "republish", "start_messaging", "subscribe",
]


def start_messaging(runtime: Runtime, consumers: Sequence[Subscription]) -> None:
    """Start the outbox relay (if the service publishes) and every consumer."""
    spec = runtime.system.service(runtime.name)
    if spec.publishes:
        runtime.spawn("outbox-relay", partial(run_relay, runtime))
    for sub in consumers:
        runtime.spawn(f"consume:{sub.event_type}", partial(run_consumer, runtime, sub))
