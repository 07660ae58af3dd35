"""Duplicate delivery: the same events reach their consumers again.

Two ways, both used by the `duplicate` fault:

- through the publisher's outbox (`POST /internal/outbox/republish`): the relay
  sends the rows again with their original `Nats-Msg-Id`. JetStream drops a
  repeat inside its duplicate window (two minutes), so this path reaches the
  consumers only for older events;
- through the broker: the stream's last messages are published again with the
  same event id (`Msa-Event-Id`) but a fresh `Nats-Msg-Id`, as a relay that lost
  its place or a broker that redelivers would. These always reach the consumers,
  whose inbox must then skip them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from msa.checks import SystemAccess
from msa.events import stream_name


@dataclass(frozen=True)
class Redelivery:
    """What one duplicate fault sent again."""

    outbox_marked: int
    first_id: int
    last_id: int
    broker_copies: int

    def describe(self) -> str:
        return (f"outbox rows {self.first_id}-{self.last_id} re-driven ({self.outbox_marked}), "
                f"{self.broker_copies} copies through the broker")


async def republish_outbox(access: SystemAccess, service: str, window: int) -> tuple[int, int, int]:
    """Mark the last `window` outbox rows of `service` unpublished; (first, last, marked)."""
    last = int((await access.get(service, "/internal/outbox"))["last_id"])
    if last < 1:
        return 0, 0, 0
    first = max(1, last - window + 1)
    done = await access.post(service, "/internal/outbox/republish",
                             {"first_id": first, "last_id": last})
    return first, last, int(done["marked"])


async def copy_in_broker(nats_url: str, service: str, window: int) -> int:
    """Publish the last `window` messages of `service`'s stream again; returns how many."""
    import nats

    nc = await nats.connect(servers=[nats_url], connect_timeout=2, allow_reconnect=False,
                            max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=5)
        stream = stream_name(service)
        info = await js.stream_info(stream)
        last = int(info.state.last_seq or 0)
        first = max(int(info.state.first_seq or 1), last - window + 1)
        tag, copies = secrets.token_hex(4), 0
        for seq in range(first, last + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except Exception:  # deleted or expired meanwhile: nothing to copy
                continue
            if not msg.subject:
                continue
            headers = dict(msg.headers or {})
            headers["Nats-Msg-Id"] = f"{headers.get('Nats-Msg-Id', seq)}:dup:{tag}"
            await js.publish(msg.subject, msg.data or b"", headers=headers)
            copies += 1
        return copies
    finally:
        await nc.close()


async def redeliver(access: SystemAccess, nats_url: str, service: str,
                    window: int) -> Redelivery:
    """Both ways at once, for the last `window` events of `service`."""
    first, last, marked = await republish_outbox(access, service, window)
    copies = await copy_in_broker(nats_url, service, window)
    return Redelivery(marked, first, last, copies)
