"""Running a system's invariant checkers (`msa check`) against its services' audit APIs.

The platform knows nothing of what the invariants are: a system names a
`CheckSuite` in system.toml (`[system] checks = "package.module:NAME"`). A check
reads each service only through its HTTP API (`/internal/<service>/audit`), never
its database, and returns counts and violations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from msa.errors import ConfigError, MsaError
from msa.service_auth import ServiceCredentials, operator_credentials


@dataclass
class CheckResult:
    """One invariant: what was counted and every violation found."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


class SystemAccess:
    """Reads services' APIs by name, as an operator tool does.

    Given the system's data folder (or credentials), every request carries the
    operator's service token, which services require on their `/internal` routes.
    """

    def __init__(self, addresses: dict[str, list[str]], headers: dict[str, str] | None = None,
                 timeout: float = 10.0, *, data_dir: str | Path | None = None,
                 credentials: ServiceCredentials | None = None) -> None:
        self.addresses = addresses
        self._http = httpx.AsyncClient(timeout=timeout, headers=headers or {})
        self._credentials = credentials or (operator_credentials(data_dir) if data_dir else None)

    def auth_headers(self, service: str) -> dict[str, str]:
        """The operator's credential for a call to `service` (none without credentials)."""
        return self._credentials.headers(service) if self._credentials else {}

    def url(self, service: str, path: str) -> str:
        bases = self.addresses.get(service)
        if not bases:
            raise ConfigError(f"no address for service {service!r}")
        return bases[0].rstrip("/") + path

    async def get(self, service: str, path: str, **params: Any) -> Any:
        try:
            response = await self._http.get(self.url(service, path), params=params or None,
                                            headers=self.auth_headers(service))
        except httpx.HTTPError as exc:
            raise MsaError(f"{service} is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise MsaError(f"{service} answered {response.status_code} to GET {path}")
        return response.json()

    async def post(self, service: str, path: str, body: Any, *,
                   headers: dict[str, str] | None = None) -> Any:
        response = await self._http.post(self.url(service, path), json=body,
                                         headers={**self.auth_headers(service), **(headers or {})})
        if response.status_code >= 400:
            raise MsaError(f"{service} answered {response.status_code} to POST {path}: "
                           f"{response.text[:200]}")
        return response.json()

    async def aclose(self) -> None:
        await self._http.aclose()


Check = Callable[[SystemAccess], Awaitable[CheckResult]]
Quiet = Callable[[SystemAccess], Awaitable[str | None]]


@dataclass(frozen=True)
class CheckSuite:
    """A system's invariants, and how to tell that the system has gone quiet.

    `quiet(access)` returns None when nothing is in flight, or a short reason
    (e.g. "3 orders pending") while work is still settling.
    """

    checks: Sequence[Check]
    quiet: Quiet | None = None

    async def wait_quiet(self, access: SystemAccess, timeout: float,
                         also: Sequence[Quiet] = ()) -> str | None:
        """Wait until quiet; returns None, or what was still busy at the deadline.

        `also` are the platform's own conditions (e.g. `messaging_quiet`), asked
        after the system's: quiet means every one of them says so at once.
        """
        conditions = [*([self.quiet] if self.quiet else []), *also]
        deadline = time.monotonic() + timeout
        while True:
            busy = None
            for condition in conditions:
                busy = await condition(access)
                if busy is not None:
                    break
            if busy is None or time.monotonic() > deadline:
                return busy
            await asyncio.sleep(0.25)

    async def run(self, access: SystemAccess) -> list[CheckResult]:
        return list(await asyncio.gather(*(check(access) for check in self.checks)))


def load_suite(path: str) -> CheckSuite:
    """Import the suite system.toml names (`package.module:NAME`)."""
    from msa.serve import load_factory

    try:
        suite = load_factory(path)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load checks {path!r}: {exc}") from None
    if not isinstance(suite, CheckSuite):
        raise ConfigError(f"{path} is not an msa.checks.CheckSuite")
    return suite


def messaging_quiet(publishers: Sequence[str], nats_url: str | None) -> Quiet:
    """A quiet condition: every publisher's outbox drained, every consumer caught up.

    An outbox row not yet published, or a JetStream message not yet delivered or
    acknowledged, is an effect still on its way; checking before it lands would
    miss a duplicate or a loss that is about to happen.
    """

    async def quiet(access: SystemAccess) -> str | None:
        for name in publishers:
            status = await access.get(name, "/internal/outbox")
            if status["unpublished"]:
                return f"{name}'s outbox has {status['unpublished']} unpublished event(s)"
        return await _consumers_busy(nats_url) if nats_url else None

    return quiet


async def _consumers_busy(nats_url: str) -> str | None:
    import nats
    from nats.errors import Error as NatsError

    from msa.events import DLQ_STREAM

    try:
        nc = await nats.connect(servers=[nats_url], connect_timeout=2, max_reconnect_attempts=0)
    except (OSError, NatsError) as exc:
        return f"NATS is unreachable: {type(exc).__name__}"
    try:
        jsm = nc.jsm()
        for stream in await jsm.streams_info():
            name = stream.config.name
            if name is None or name == DLQ_STREAM:
                continue
            for consumer in await jsm.consumers_info(name):
                pending, unacked = consumer.num_pending or 0, consumer.num_ack_pending or 0
                if pending or unacked:
                    return (f"consumer {consumer.name} on {name}: {pending} undelivered, "
                            f"{unacked} unacknowledged")
        return None
    except NatsError as exc:
        return f"NATS did not answer: {type(exc).__name__}"
    finally:
        await nc.close()
