"""What JetStream holds: each stream and each durable consumer's lag (for the console).

Read straight from NATS, as `msa dlq` reads dead letters: a stream's message count
and sequence range, and per consumer how many messages are not yet delivered
(`pending`), delivered but not acknowledged (`ack_pending`) and redelivered.
A consumer named `<service>__<event_type>` is that service's subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nats

SERVICE_SEPARATOR = "__"


@dataclass(frozen=True)
class ConsumerLag:
    """One durable consumer of a stream and how far behind it is."""

    name: str
    pending: int
    ack_pending: int
    redelivered: int
    delivered: int

    @property
    def service(self) -> str:
        """The service whose subscription this is ('' if not named by the platform)."""
        return self.name.split(SERVICE_SEPARATOR, 1)[0] if SERVICE_SEPARATOR in self.name else ""

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


@dataclass(frozen=True)
class StreamReport:
    """One stream: its subjects, size and consumers."""

    name: str
    subjects: list[str]
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    consumers: list[ConsumerLag] = field(default_factory=list)


async def stream_reports(nats_url: str) -> list[StreamReport]:
    """Every stream on the server with its consumers, by name."""
    nc = await nats.connect(servers=[nats_url], connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        reports = []
        for info in await js.streams_info():
            name = info.config.name or ""
            consumers = [
                ConsumerLag(name=c.name or "", pending=c.num_pending or 0,
                            ack_pending=c.num_ack_pending or 0,
                            redelivered=c.num_redelivered or 0,
                            delivered=(c.delivered.stream_seq or 0) if c.delivered else 0)
                for c in await js.consumers_info(name)]
            state = info.state
            reports.append(StreamReport(
                name=name, subjects=list(info.config.subjects or []), messages=state.messages,
                bytes=state.bytes, first_seq=state.first_seq, last_seq=state.last_seq,
                consumers=sorted(consumers, key=lambda c: c.name)))
        return sorted(reports, key=lambda r: r.name)
    finally:
        await nc.close()
