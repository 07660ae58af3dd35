"""Prometheus: the scrape configuration, and a local server for `msa up --with-prometheus`.

`scrape_config` gives one job per service (its replicas as targets, labelled
with the team), evaluating the generated rules. The committed
`deploy/monitoring/prometheus.yml` uses system.toml's local ports; a running
system passes its real addresses. `PrometheusServer` runs the `prometheus`
binary (Debian package `prometheus`) on such a configuration; it is optional:
`binary()` is None when it is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from msa.errors import MsaError
from msa.system import System
from msa.tools.monitoring.render import to_yaml
from msa.tools.monitoring.rules import rule_groups

if TYPE_CHECKING:
    from msa.tools.runner import Runner

RULES_FILE = "alerts.yml"


def binary() -> str | None:
    """The path of the `prometheus` binary, or None when it is not installed."""
    return shutil.which("prometheus")


def local_targets(system: System) -> dict[str, list[str]]:
    """job → `host:port` of every replica, from system.toml's ports (as `msa up` uses them)."""
    return {svc.name: [f"127.0.0.1:{port}" for port in svc.ports]
            for svc in system.services.values()}


def targets_of(addresses: dict[str, list[str]]) -> dict[str, list[str]]:
    """job → targets from a running system's base URLs; services sharing one process
    (the monolith) become one job, `monolith`, since they share one `/metrics`."""
    owners: dict[str, set[str]] = {}
    for service, urls in addresses.items():
        for url in urls:
            owners.setdefault(urlsplit(url).netloc, set()).add(service)
    jobs: dict[str, list[str]] = {}
    for netloc, services in owners.items():
        job = services.pop() if len(services) == 1 else "monolith"
        jobs.setdefault(job, []).append(netloc)
    return jobs


def scrape_config(system: System, targets: dict[str, list[str]] | None = None, *,
                  interval: str = "15s", rules: str = RULES_FILE,
                  token_file: str = ".msa/secrets/metrics.token") -> dict[str, Any]:
    """The Prometheus configuration: one job per service, the generated rules. The public
    edge (the gateway, or the monolith) is scraped with the token in `token_file`."""
    jobs = []
    for job, hosts in (targets or local_targets(system)).items():
        team = system.services[job].team if job in system.services else "all"
        entry: dict[str, Any] = {
            "job_name": job, "metrics_path": "/metrics",
            "static_configs": [{"targets": hosts,
                                "labels": {"team": team, "system": system.system.name}}]}
        if job in (system.system.gateway, "monolith"):
            entry["authorization"] = {"type": "Bearer", "credentials_file": token_file}
        jobs.append(entry)
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [rules], "scrape_configs": jobs}


class PrometheusServer:
    """A local Prometheus scraping a running system; its files live in `folder`."""

    def __init__(self, system: System, folder: Path, port: int,
                 addresses: dict[str, list[str]], interval: str = "5s",
                 data_dir: Path | None = None) -> None:
        self.system = system
        self.folder = folder
        self.data_dir = data_dir or folder.parent  # where secrets/metrics.token lives
        self.port = port
        self.targets = targets_of(addresses)
        self.interval = interval
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Write the configuration and start the server (call `wait_ready` next)."""
        from msa.tools.runner.processes import spawn

        path = binary()
        if path is None:
            raise MsaError("prometheus is not installed (Debian: apt-get install prometheus)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / RULES_FILE).write_text(to_yaml(rule_groups(self.system)))
        from msa.metrics_access import ensure_token, token_file

        ensure_token(self.data_dir)
        config = scrape_config(self.system, self.targets, interval=self.interval,
                               rules=str(self.folder / RULES_FILE),
                               token_file=str(token_file(self.data_dir).absolute()))
        (self.folder / "prometheus.yml").write_text(to_yaml(config))
        self._proc = spawn([path, f"--config.file={self.folder / 'prometheus.yml'}",
                            f"--storage.tsdb.path={self.folder / 'data'}",
                            f"--web.listen-address=127.0.0.1:{self.port}",
                            "--storage.tsdb.retention.time=2d", "--log.level=warn"],
                           env=dict(os.environ), log_path=self.folder / "prometheus.log")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server answers `/-/ready`; MsaError if it exits or is slow."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise MsaError(f"prometheus exited; see {self.folder / 'prometheus.log'}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise MsaError(f"prometheus not ready after {timeout:.0f} s")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5.0)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        from msa.tools.runner.processes import terminate

        if self._proc is not None:
            terminate([self._proc], 10.0)
            self._proc = None


def start_for(runner: Runner, port: int | None = None, interval: str = "5s"
              ) -> PrometheusServer:
    """Start a Prometheus scraping the running system of `runner` (files under its data
    folder); returns once it is ready. Stop it with `stop()` before the runner."""
    server = PrometheusServer(runner.system, runner.data_dir / "prometheus",
                              port or runner.system.local.prometheus_port, runner.addresses,
                              interval)
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server
