"""Typed, versioned events and their wire form.

An event is a pydantic model with a `type` such as `orders.order.confirmed.v1`
(publisher, entity, past-tense verb, version). Publishers define their events in
their `contracts` module; consumers may import that contract (and nothing else)
from another service. On the wire an event is JSON with its identity in headers:

| header | value |
|---|---|
| Nats-Msg-Id | the event id (JetStream's duplicate window drops re-sends) |
| Msa-Event-Id | the event id (the inbox dedupes on it, also across replays) |
| Msa-Event-Type | e.g. `orders.order.confirmed.v1` |
| Msa-Aggregate | the entity the event is about; order is kept per aggregate |
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every event schema."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if isinstance(event_type, str):
            _REGISTRY[event_type] = cls

    def aggregate(self) -> str:
        """The entity this event is about (override; default: the event type)."""
        return self.type


def event_class(event_type: str) -> type[Event] | None:
    """The schema registered for `event_type`, if its contract module is imported."""
    return _REGISTRY.get(event_type)


def registered_events() -> dict[str, type[Event]]:
    """Every event schema imported so far: event type → class."""
    return dict(_REGISTRY)


def stream_name(service: str) -> str:
    """The JetStream stream holding the events of `service`."""
    return f"EVENTS_{service.upper()}"


DLQ_STREAM = "MSA_DLQ"
DLQ_SUBJECT_PREFIX = "dlq"
