"""The repository's real system under the runner: restarts, `msa up` with its seed, `msa down`.

Each test starts the whole system (ten services, PostgreSQL, NATS), so there are few.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from msa.system import load_system
from msa.tools.runner import read_state
from msa.tools.runner.ports import free_port, port_is_free
from msa.tools.runner.seeding import load_seed, run_seed
from msa.tools.testing import SystemFactory

ROOT = Path(__file__).resolve().parents[2]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds it took until `condition()`; fails the test after `timeout`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - began


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_sigkilled_service_process_is_restarted_and_ready_again_within_5_seconds(
    msa_system_factory: SystemFactory,
) -> None:
    runner = msa_system_factory("process")
    before = runner.status().instance("orders-0")
    pid = runner.kill("orders-0")

    def back() -> bool:
        now = runner.status().instance("orders-0")
        return now.ready and now.pid not in (None, pid)

    took = wait_for(back, timeout=30)
    after = runner.status().instance("orders-0")
    assert took < 5, f"ready again after {took:.1f} s"
    assert after.restarts == before.restarts + 1
    assert after.last_exit == -9
    assert get_json(after.url + "/readyz")["status"] == "ready"
    assert gone(pid)


def free_pair() -> int:
    """A free port whose neighbour is free too (NATS monitoring; a second replica)."""
    while True:
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """The repository's system.toml on free ports, its data folder in `tmp_path`;
    whatever `msa up` starts there is stopped afterwards, even on failure."""
    text = (ROOT / "system.toml").read_text()
    text = re.sub(r"(?m)^(port|postgres_port|nats_port) = \d+$",
                  lambda match: f"{match.group(1)} = {free_pair()}", text)
    (tmp_path / "system.toml").write_text(text)
    yield tmp_path
    msa(tmp_path, "down")


def msa(project: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MSA_")}
    return subprocess.run(
        [sys.executable, "-m", "msa.tools.cli", "--system", str(project / "system.toml"), *args],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout,
        cwd=project)


def test_up_seeds_the_system_and_down_leaves_no_process_and_no_port(project: Path) -> None:
    up = msa(project, "up", "-d")
    assert up.returncode == 0, up.stderr
    seeded = re.search(r"seed\s+stocked (\d+) of (\d+) books", up.stdout)
    assert seeded and seeded.group(1) == seeded.group(2) != "0", up.stdout
    state = read_state(project / ".msa")
    assert state is not None and state.forkserver is not None and state.gateway_url

    books = get_json(state.gateway_url + "/api/catalog/books?limit=3")["items"]
    for book in books:  # through the gateway, as a customer sees it
        assert get_json(f"{state.gateway_url}/api/inventory/stock/{book['id']}")["available"] > 0

    system = load_system(project / "system.toml")
    seed = load_seed(system)
    assert seed is not None
    addresses = {name: [item.url for item in state.instances if item.service == name]
                 for name in system.services}
    again = run_seed(seed, addresses, project / ".msa")
    assert again == f"stocked 0 of {seeded.group(2)} books"  # idempotent

    pids = [item.pid for item in state.instances] + [state.forkserver.pid, state.supervisor_pid]
    pids += [server.pid for server in (state.postgres, state.nats) if server is not None]
    ports = [item.port for item in state.instances]
    ports += [server.port for server in (state.postgres, state.nats) if server is not None]

    down = msa(project, "down")
    assert down.returncode == 0 and down.stdout.startswith("stopped"), down.stderr
    assert all(pid and gone(pid) for pid in pids)
    assert all(port_is_free(port) for port in ports)
