"""The connection to NATS JetStream, one per process."""

from __future__ import annotations

import logging
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from msa.events import DLQ_STREAM, DLQ_SUBJECT_PREFIX, stream_name
from msa.system import System

_log = logging.getLogger("msa.broker")
DUPLICATE_WINDOW = 120.0


class Broker:
    """A NATS connection that reconnects forever, and its JetStream context."""

    def __init__(self, url: str, name: str, credentials: tuple[str, str] | None = None) -> None:
        self.url = url
        self.name = name
        self.credentials = credentials  # (user, password): see msa.nats_auth
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    async def connect(self) -> None:
        async def on_error(exc: Exception) -> None:
            _log.warning("nats: %s", exc)

        login: dict[str, Any] = {}
        if self.credentials is not None:
            from msa.nats_auth import inbox_prefix

            user, password = self.credentials
            login = {"user": user, "password": password, "inbox_prefix": inbox_prefix(user)}
        self._nc = await nats.connect(
            servers=[self.url],
            name=self.name,
            **login,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=on_error,
        )
        self._js = self._nc.jetstream(timeout=5)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("broker is not connected")
        return self._js

    @property
    def nc(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("broker is not connected")
        return self._nc

    async def ensure_streams(self, system: System, only: set[str] | None = None) -> None:
        """Create the streams this system's events live in (idempotent); with `only`, just
        those named (the ones this connection's NATS user may create)."""
        for service in system.services.values():
            name = stream_name(service.name)
            if service.publishes and (only is None or name in only):
                await self.ensure_stream(name, [f"{service.name}.>"])
        if only is None or DLQ_STREAM in only:
            await self.ensure_stream(DLQ_STREAM, [f"{DLQ_SUBJECT_PREFIX}.>"])

    async def ensure_stream(self, name: str, subjects: list[str]) -> None:
        config = StreamConfig(
            name=name,
            subjects=subjects,
            storage="file",  # type: ignore[arg-type]
            duplicate_window=DUPLICATE_WINDOW,
            max_age=7 * 24 * 3600,
        )
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)

    async def publish(self, subject: str, data: bytes, headers: dict[str, Any],
                      timeout: float = 5.0) -> bool:
        """Publish and wait for the broker's ack; True if it was a duplicate."""
        ack = await self.js.publish(subject, data, timeout=timeout, headers=headers)
        return bool(ack.duplicate)

    async def close(self) -> None:
        # close, not drain: consumers ack explicitly, so anything in flight is redelivered,
        # and draining pull subscriptions can wait out its whole timeout
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = None
        self._js = None
