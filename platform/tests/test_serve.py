"""`python -m msa.serve`: bad settings end the process with one line and exit code 2;
SIGTERM drains the requests in flight within the grace period."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from msa.tools.runner.ports import free_port

ROOT = Path(__file__).parents[2]


def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MSA_")}
    return subprocess.run([sys.executable, "-m", "msa.serve", *args], text=True,
                          capture_output=True, timeout=60, cwd=ROOT,
                          env={**clean, "MSA_SYSTEM_FILE": str(ROOT / "system.toml"), **env})


def test_a_missing_database_url_is_one_line():
    done = serve("wallet", MSA_PORT="0")
    assert done.returncode == 2
    assert done.stderr.strip() == "msa.serve: wallet: setting MSA_DATABASE_URL is missing"


def test_a_placeholder_password_is_one_line():
    done = serve("wallet", MSA_DATABASE_URL="postgresql://wallet:changeme@127.0.0.1/wallet")
    assert done.returncode == 2
    assert "placeholder password" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_service_is_one_line():
    done = serve("ghost")
    assert done.returncode == 2
    assert "unknown service 'ghost'" in done.stderr and "Traceback" not in done.stderr


def test_a_malformed_system_file_is_one_line(tmp_path):
    broken = tmp_path / "system.toml"
    broken.write_text("[system\nname = 1\n")
    done = serve("wallet", MSA_SYSTEM_FILE=str(broken))
    assert done.returncode == 2
    assert str(broken) in done.stderr and done.stderr.strip().count("\n") == 0


SLOW_APP = '''
import asyncio, os
from pathlib import Path
from fastapi import APIRouter
from msa.service import ServiceDefinition

router = APIRouter(prefix="/api/slow")


@router.get("/wait")
async def wait(seconds: float) -> dict:
    Path(os.environ["SLOW_MARKER"]).touch()  # the request has reached the app
    await asyncio.sleep(seconds)
    return {"waited": seconds}


service = ServiceDefinition("slow", routers=[router], public=True)
create_app = service.create_app
'''

SLOW_SYSTEM = """
[system]
name = "slowpoke"
gateway = "slow"

[teams.edge]
description = "The only team"

[services.slow]
team = "edge"
app = "slowapp:create_app"
port = 8999
database = false
routes = ["/api/slow"]
"""


@pytest.fixture
def slow_service(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    """Starts the one-route `slow` service as a real `msa.serve` process with a grace
    period; returns it and its port. Every process started is killed at the end."""
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    (tmp_path / "system.toml").write_text(SLOW_SYSTEM)
    started: list[subprocess.Popen[str]] = []

    def start(grace: float, **settings: str) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MSA_")}
        env = {**clean, "PYTHONPATH": str(tmp_path), "SLOW_MARKER": str(tmp_path / "reached"),
               "MSA_SYSTEM_FILE": str(tmp_path / "system.toml"), "MSA_PORT": str(port),
               "MSA_ENV": "test", "MSA_DATA_DIR": str(tmp_path / "data"),
               "MSA_SHUTDOWN_GRACE": str(grace), "MSA_TRACING": "false", **settings}
        process = subprocess.Popen([sys.executable, "-m", "msa.serve", "slow"], cwd=tmp_path,
                                   env=env, text=True, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(process)
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the slow service did not start"
            time.sleep(0.05)
        return process, port

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.communicate()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def _request_in_flight(port: int, seconds: float, marker: Path) -> Future[httpx.Response]:
    """GET /api/slow/wait in a thread; returns once the request has reached the app."""
    pool = ThreadPoolExecutor(1)
    answer = pool.submit(httpx.get, f"http://127.0.0.1:{port}/api/slow/wait",
                         params={"seconds": seconds}, timeout=seconds + 30)
    pool.shutdown(wait=False)
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert not answer.done(), answer.result()
        assert time.monotonic() < deadline, "the slow request never reached the app"
        time.sleep(0.01)
    return answer


def test_sigterm_lets_a_request_in_flight_finish_refuses_new_ones_and_exits(
    slow_service: Callable[[float], tuple[subprocess.Popen[str], int]], tmp_path: Path
) -> None:
    grace = 10.0
    process, port = slow_service(grace)
    answer = _request_in_flight(port, 2.0, tmp_path / "reached")

    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    deadline = signalled + 1.5
    while not _refuses_connections(port):
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.02)
    assert not answer.done(), "the request ended before new connections were refused"

    response = answer.result(timeout=30)
    assert response.status_code == 200 and response.json() == {"waited": 2.0}
    process.wait(timeout=grace + 5)
    assert time.monotonic() - signalled < grace
    # uvicorn re-raises the SIGTERM it caught once shut down: death by that signal
    assert process.returncode in (0, -signal.SIGTERM), process.communicate()[0]


def test_sigterm_does_not_wait_past_the_grace_period_for_a_stuck_request(
    slow_service: Callable[[float], tuple[subprocess.Popen[str], int]], tmp_path: Path
) -> None:
    grace = 2.0
    process, port = slow_service(grace)
    answer = _request_in_flight(port, 60.0, tmp_path / "reached")

    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    process.wait(timeout=grace + 10)
    assert time.monotonic() - signalled < grace + 3  # the grace, and the lifespan's end
    with contextlib.suppress(httpx.TransportError):
        assert answer.result(timeout=10).status_code != 200


def test_past_its_connection_cap_a_process_answers_503_at_once_and_recovers(
    slow_service: Callable[..., tuple[subprocess.Popen[str], int]], tmp_path: Path
) -> None:
    process, port = slow_service(10.0, MSA_MAX_CONNECTIONS="2")
    answer = _request_in_flight(port, 3.0, tmp_path / "reached")
    with httpx.Client(timeout=5) as other:  # a second connection, past the cap of two
        began = time.monotonic()
        refused = other.get(f"http://127.0.0.1:{port}/healthz")
        assert refused.status_code == 503
        assert time.monotonic() - began < 2  # answered at once, not queued
    assert answer.result(timeout=30).status_code == 200  # the one in flight is untouched
    assert _answers(port)  # and with room again, the process serves
    assert process.poll() is None
