"""The running system as the console reads it, with the operator's credential.

One `OperatorView` per gateway process. The credential is the operator's key in the
system's data folder (where `msa up` keeps it); outside production it is created if
missing, as `msa` does. Without it (a production gateway) the console says so.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from msa import (
    MONOLITH_PREFIX,
    OPERATOR,
    CheckResult,
    MsaError,
    RunnerState,
    Runtime,
    System,
    SystemAccess,
    key_folder,
    load_credentials,
    load_suite,
    operator_credentials,
    operator_nats_url,
    read_state,
)

WINDOW = 300.0  # seconds of metrics history the console keeps (RED "over the last minutes")
TIMEOUT = 5.0


@dataclass
class Scrape:
    """The counters of one moment, per service (summed over its instances)."""

    at: float
    requests: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[tuple[str, str], float] = field(default_factory=dict)


class OperatorView:
    """Reads (and, for retry, compensate and replay, acts on) the running system."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.system: System = runtime.system
        self.gateway = runtime.name
        self.data_dir = settings.data_dir
        # the operator's NATS user: streams, consumers and dead letters are the tools' to read
        self.nats_url = operator_nats_url(settings.nats_url, self.data_dir)
        self.addresses = self._addresses(dict(settings.addresses))
        try:
            credentials = (load_credentials(key_folder(self.data_dir), OPERATOR)
                           if settings.env == "production"
                           else operator_credentials(self.data_dir))
            self.problem = ""
        except MsaError as exc:
            credentials, self.problem = None, f"no operator credential here: {exc}"
        self.access = SystemAccess(self.addresses, credentials=credentials, timeout=TIMEOUT)
        self._http = httpx.AsyncClient(timeout=TIMEOUT)
        self.history: deque[Scrape] = deque(maxlen=120)
        self._saga_services: list[str] | None = None

    def _addresses(self, configured: dict[str, list[str]]) -> dict[str, list[str]]:
        """Where each service answers its operator routes. A monolith has one address
        for all (its calls stay in-process); from outside, each service is mounted
        under `/_svc/<name>` of it."""
        state = self.runner_state()
        if state is not None and state.mode == "monolith" and state.gateway_url:
            base = state.gateway_url
            return {name: [base if name == self.gateway else f"{base}{MONOLITH_PREFIX}/{name}"]
                    for name in self.system.services}
        return configured or {name: [f"http://127.0.0.1:{svc.port}"]
                              for name, svc in self.system.services.items()}

    def runner_state(self) -> RunnerState | None:
        """What `msa up` recorded: instances, pids, restarts (None when not run by it)."""
        return read_state(Path(self.data_dir)) if self.data_dir else None

    async def _get(self, url: str, service: str, **params: Any) -> httpx.Response | None:
        try:
            return await self._http.get(url, params=params or None,
                                        headers=self.access.auth_headers(service))
        except httpx.HTTPError:
            return None

    async def health(self) -> dict[str, list[dict[str, Any]]]:
        """service → each instance's address and readiness."""
        async def ready(service: str, url: str) -> dict[str, Any]:
            answer = await self._get(url + "/readyz", service)
            return {"url": url, "ready": answer is not None and answer.status_code == 200,
                    "status": answer.status_code if answer is not None else "unreachable"}

        found = await asyncio.gather(*(ready(name, url) for name, urls in self.addresses.items()
                                       for url in urls))
        by_service: dict[str, list[dict[str, Any]]] = {}
        for (name, _), item in zip(((n, u) for n, us in self.addresses.items() for u in us),
                                   found, strict=True):
            by_service.setdefault(name, []).append(item)
        return by_service

    async def scrape(self) -> Scrape:
        """Read every instance's /metrics now, and remember it for rates."""
        from prometheus_client.parser import text_string_to_metric_families

        now = Scrape(at=time.monotonic())

        async def one(service: str, url: str) -> None:
            answer = await self._get(url + "/metrics", service)
            if answer is None or answer.status_code != 200:
                return
            for family in text_string_to_metric_families(answer.text):
                for sample in family.samples:
                    labels = sample.labels
                    if labels.get("service") != service:  # a monolith reports every service
                        continue
                    if sample.name == "msa_http_requests_total":
                        now.requests[service] = now.requests.get(service, 0) + sample.value
                        if labels.get("status", "").startswith("5"):
                            now.errors[service] = now.errors.get(service, 0) + sample.value
                    elif sample.name == "msa_http_request_duration_seconds_sum":
                        now.seconds[service] = now.seconds.get(service, 0) + sample.value
                    elif sample.name == "msa_client_requests_total":
                        edge = (service, labels.get("target", ""))
                        now.calls[edge] = now.calls.get(edge, 0) + sample.value

        await asyncio.gather(*(one(name, url) for name, urls in self.addresses.items()
                               for url in urls))
        while self.history and now.at - self.history[0].at > WINDOW:
            self.history.popleft()
        self.history.append(now)
        return now

    def red(self, now: Scrape) -> tuple[dict[str, dict[str, float]], float]:
        """service → rate (/s), errors (/s) and mean duration (ms) since the oldest
        remembered scrape; and how many seconds that covers (0: totals since start)."""
        then = self.history[0] if self.history and self.history[0] is not now else None
        span = now.at - then.at if then else 0.0
        red = {}
        for service in self.system.services:
            count = now.requests.get(service, 0) - (then.requests.get(service, 0) if then else 0)
            errors = now.errors.get(service, 0) - (then.errors.get(service, 0) if then else 0)
            seconds = now.seconds.get(service, 0) - (then.seconds.get(service, 0) if then else 0)
            red[service] = {"requests": count, "errors": errors,
                            "rate": count / span if span else 0.0,
                            "error_rate": errors / span if span else 0.0,
                            "mean_ms": 1000 * seconds / count if count else 0.0}
        return red, span

    async def saga_services(self) -> list[str]:
        """The services that orchestrate sagas (they answer /internal/sagas)."""
        if self._saga_services is None:
            found = []
            for name, spec in self.system.services.items():
                if not spec.database:
                    continue
                answer = await self._get(self.access.url(name, "/internal/sagas"), name, limit=1)
                if answer is not None and answer.status_code == 200:
                    found.append(name)
            self._saga_services = found
        return self._saga_services

    async def call(self, service: str, method: str, path: str, **params: Any) -> Any:
        """An operator call; MsaError with the service's own words if it refuses."""
        try:
            answer = await self._http.request(
                method, self.access.url(service, path), params=params or None,
                headers=self.access.auth_headers(service))
        except httpx.HTTPError as exc:
            raise MsaError(f"{service} is unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 400:
            detail = answer.json().get("detail") if answer.content else None
            raise MsaError(f"{service}: {detail or answer.status_code}")
        return answer.json()

    async def spans(self, trace_id: str | None = None, limit: int = 2000
                    ) -> list[dict[str, Any]]:
        """Finished spans from every instance of every service (their trace buffers)."""
        params: dict[str, Any] = {"limit": limit}
        if trace_id:
            params["trace_id"] = trace_id

        async def one(service: str, url: str) -> list[dict[str, Any]]:
            answer = await self._get(url + "/internal/traces", service, **params)
            if answer is None or answer.status_code != 200:
                return []
            spans: list[dict[str, Any]] = answer.json()["spans"]
            return spans

        found = await asyncio.gather(*(one(name, url) for name, urls in self.addresses.items()
                                       for url in urls))
        return [span for spans in found for span in spans]

    async def checks(self) -> list[CheckResult]:
        """The system's invariant checks (`msa check`), run now without waiting for quiet."""
        if not self.system.system.checks:
            return []
        return await load_suite(self.system.system.checks).run(self.access)


def view_of(runtime: Runtime) -> OperatorView:
    """The gateway's one OperatorView, made on first use."""
    view: OperatorView | None = runtime.state.get("operator_view")
    if view is None:
        view = runtime.state["operator_view"] = OperatorView(runtime)
    return view
