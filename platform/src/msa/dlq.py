"""Dead letters: list them and replay them onto their original subject.

A consumer that fails an event `max_attempts` times publishes it to
`dlq.<consumer>` in the `MSA_DLQ` stream with why it failed. Replaying publishes it
again on its original subject with the same `Msa-Event-Id` (so consumers that
already handled it skip it through their inbox) and removes it from the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError

from msa.events import DLQ_STREAM


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    subject: str
    event_id: str
    event_type: str
    reason: str
    data: bytes
    headers: dict[str, str]


async def _connect(url: str) -> Any:
    return await nats.connect(servers=[url], connect_timeout=2, max_reconnect_attempts=0)


async def list_dead_letters(nats_url: str, limit: int = 100) -> list[DeadLetter]:
    nc = await _connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(DLQ_STREAM)
        except NotFoundError:
            return []
        letters: list[DeadLetter] = []
        if not info.state.messages:
            return letters
        seq = max(info.state.first_seq, 1)
        while seq <= info.state.last_seq and len(letters) < limit:
            try:
                raw = await js.get_msg(DLQ_STREAM, seq)
            except NotFoundError:
                seq += 1
                continue
            headers = dict(raw.headers or {})
            letters.append(DeadLetter(
                seq=seq,
                consumer=headers.get("Msa-Dlq-Consumer", ""),
                subject=headers.get("Msa-Dlq-Subject", ""),
                event_id=headers.get("Msa-Event-Id", ""),
                event_type=headers.get("Msa-Event-Type", ""),
                reason=headers.get("Msa-Dlq-Reason", ""),
                data=raw.data or b"",
                headers=headers,
            ))
            seq += 1
        return letters
    finally:
        await nc.close()


async def replay(nats_url: str, seqs: list[int] | None = None) -> int:
    """Re-publish the dead letters (all, or those with the given sequence numbers)."""
    letters = await list_dead_letters(nats_url, limit=10_000)
    chosen = [letter for letter in letters if seqs is None or letter.seq in seqs]
    nc = await _connect(nats_url)
    try:
        js = nc.jetstream()
        for letter in chosen:
            headers = {key: value for key, value in letter.headers.items()
                       if not key.startswith("Msa-Dlq-")}
            headers["Nats-Msg-Id"] = f"{letter.event_id}:replay:{letter.seq}"
            await js.publish(letter.subject, letter.data, headers=headers)
            await js.delete_msg(DLQ_STREAM, letter.seq)
        return len(chosen)
    finally:
        await nc.close()
