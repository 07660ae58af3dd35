"""The contract between the chaos harness and a system's own workload.

The platform does not know what the system does; the system names a workload in
system.toml (`[system] workload = "package.module:NAME"`), an object with:

- `env`: environment variables for a system the harness starts (e.g. a cheaper
  password hash so that many users can register);
- `prepare(ctx)`: create users and data, before any fault;
- `client(ctx, index)`: one client's loop, until `ctx.stopping` is set;
- `settle(ctx)`: after healing, resolve the operations whose outcome is unknown
  (typically: repeat them with the same idempotency key);
- `verify(ctx)`: the workload's own checks (acknowledged writes kept, unknown ones
  applied at most once), as `CheckResult`s.

Every request goes through `ctx.call`, which records it with its outcome.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from msa.checks import CheckResult, SystemAccess
from msa.errors import ConfigError
from msa.tools.chaos.record import Outcome, Recorder, outcome_of_error, outcome_of_status

CALL_TIMEOUT = 15.0
"""Seconds a client waits for an answer (the gateway gives up on a service after 10)."""


@dataclass(frozen=True)
class Answer:
    """What a call got: its outcome, and the status and JSON body if there was an answer."""

    outcome: Outcome
    status: int | None = None
    body: Any = None
    replayed: bool = False
    """The answer came from an idempotency key's stored response (`Idempotent-Replayed`)."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass
class WorkloadContext:
    """What a workload gets: the gateway, operator access, the recorder and its scale."""

    http: httpx.AsyncClient
    access: SystemAccess
    recorder: Recorder
    seed: int
    clients: int
    users: int
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    state: dict[str, Any] = field(default_factory=dict)
    """The workload's own records, kept from `prepare` to `verify`."""

    def rng(self, index: int) -> random.Random:
        """A random generator for client `index`, derived from the run's seed."""
        return random.Random(f"workload:{self.seed}:{index}")

    async def call(self, kind: str, method: str, path: str, *, json_body: Any = None,
                   key: str | None = None, token: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Answer:
        """Send a request through the gateway and record it as an operation of `kind`."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if key:
            sent["Idempotency-Key"] = key
        started = self.recorder.now()
        try:
            response = await self.http.request(method, path, json=json_body, headers=sent,
                                               timeout=CALL_TIMEOUT)
        except httpx.HTTPError as exc:
            outcome = outcome_of_error(exc)
            self.recorder.record(kind, outcome, started, key=key, detail=type(exc).__name__)
            return Answer(outcome)
        outcome = outcome_of_status(response.status_code)
        body = _json(response)
        detail = "" if outcome is Outcome.OK else response.text
        self.recorder.record(kind, outcome, started, status=response.status_code, key=key,
                             detail=detail)
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return Answer(outcome, response.status_code, body, replayed)


@runtime_checkable
class Workload(Protocol):
    """See the module docstring."""

    env: Mapping[str, str]

    async def prepare(self, ctx: WorkloadContext) -> None: ...

    async def client(self, ctx: WorkloadContext, index: int) -> None: ...

    async def settle(self, ctx: WorkloadContext) -> None: ...

    async def verify(self, ctx: WorkloadContext) -> list[CheckResult]: ...


def load_workload(path: str) -> Workload:
    """Import the workload system.toml names (`package.module:NAME`)."""
    from msa.serve import load_factory

    try:
        found = load_factory(path)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load workload {path!r}: {exc}") from None
    if not isinstance(found, Workload):
        raise ConfigError(f"{path} is not a workload (see msa.tools.chaos.workload.Workload)")
    return found


def _json(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
