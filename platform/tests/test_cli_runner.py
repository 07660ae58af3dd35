"""The runner's commands as a user meets them: one-line errors, tables, JSON, a real run."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from msa.tools.cli import main
from msa.tools.runner import RunnerState, read_state
from msa.tools.runner.ports import free_port, port_is_free

FAKE_APP = '''
import contextlib, logging
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

def create_app(settings, system=None, **kwargs):
    async def ready(request):
        return JSONResponse({"status": "ready"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        logging.getLogger("fake").info("fake up", extra={"trace_id": "t-42"})
        yield

    return Starlette(routes=[Route("/readyz", ready)], lifespan=lifespan)


async def seed(access):
    import os
    from msa.errors import MsaError

    if os.environ.get("TINY_SEED") == "fail":
        raise MsaError("pay answered 503 to POST /internal/pay/stock")
    return f"tiny seeded {sorted(access.addresses)}"
'''

SYSTEM_TOML = """
[system]
name = "tiny"
gateway = "front"
seed = "tinyapp:seed"

[local]
data_dir = "data"
postgres_port = {postgres}
nats_port = {nats}

[teams.web]
description = "The edge"
[teams.money]
description = "Payments"

[services.front]
team = "web"
app = "tinyapp:create_app"
port = {front}
database = false
calls = ["pay"]

[services.pay]
team = "money"
app = "tinyapp:create_app"
port = {pay}
publishes = ["pay.payment.made.v1"]

[services.mail]
team = "web"
app = "tinyapp:create_app"
port = {mail}
database = false
consumes = ["pay.payment.made.v1"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a three-service system.toml (free ports) and a stand-in app."""
    (tmp_path / "tinyapp.py").write_text(FAKE_APP)
    ports = {name: free_port() for name in ("postgres", "front", "pay", "mail")}
    ports["nats"] = nats_port()
    (tmp_path / "system.toml").write_text(SYSTEM_TOML.format(**ports))
    return tmp_path


def nats_port() -> int:
    """A free port whose neighbour (NATS monitoring) is free too."""
    while True:
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port


def msa(project: Path, *args: str, timeout: float = 90,
        **variables: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MSA_")}
    env["PYTHONPATH"] = str(project)
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "msa.tools.cli", "--system", str(project / "system.toml"), *args],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout,
        cwd=project)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unknown_service_is_one_line_without_traceback(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(capsys, "--system", str(project / "system.toml"), "logs", "nope")

    assert code == 1
    assert err == "msa: unknown service 'nope' (known: front, mail, pay, postgres, nats, " \
                  "supervisor, forkserver)\n"
    assert out == ""


def test_a_taken_port_is_named_in_one_line_and_nothing_starts(project: Path) -> None:
    system = (project / "system.toml").read_text()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        text = system.replace("database = false\ncalls", "database = false\ncalls", 1)
        front_port = next(line for line in text.splitlines() if line.startswith("port = "))
        (project / "system.toml").write_text(text.replace(front_port, f"port = {port}", 1))
        result = msa(project, "up", "-d")

    assert result.returncode == 1
    me = psutil.Process()
    assert result.stderr == (f"msa: port {port} (wanted by front-0) is already in use by "
                             f"{me.name()} (pid {me.pid})\n")
    assert not (project / "data" / "postgres").exists()


def test_teams_shows_teams_calls_and_events_between_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "--system", str(project / "system.toml"), "teams")

    assert code == 0
    assert "front, mail" in out and "The edge" in out
    calls = out.split("Synchronous calls between teams")[1].split("Asynchronous")[0]
    events = out.split("Asynchronous events between teams")[1]
    assert "front → pay" in calls
    assert "pay.payment.made.v1 (pay → mail)" in events


def test_status_json_says_not_running_when_down(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "--system", str(project / "system.toml"), "status", "--json")

    assert code == 0
    assert json.loads(out) == {"running": False, "data_dir": str(project / "data"),
                               "instances": []}


def test_reset_refuses_without_yes_when_nobody_can_answer(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / ".msa-data-dir").touch()

    refused = msa(project, "reset")
    assert refused.returncode == 1 and refused.stderr.startswith("msa: reset would delete")
    assert (project / "data").exists()

    assert msa(project, "reset", "--yes").returncode == 0
    assert not (project / "data").exists()


def test_reset_never_deletes_a_folder_that_is_not_ours(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "precious.txt").write_text("keep me")

    result = msa(project, "reset", "--yes")

    assert result.returncode == 1 and "does not look like an msa data folder" in result.stderr
    assert (project / "data" / "precious.txt").exists()


@pytest.fixture
def stopped_at_end(project: Path) -> Iterator[Path]:
    """Whatever a test starts in `project` is stopped afterwards, even on failure."""
    yield project
    msa(project, "down")


def test_up_detached_status_logs_and_down_with_the_real_entry_point(stopped_at_end: Path) -> None:
    project = stopped_at_end
    up = msa(project, "up", "-d")
    assert up.returncode == 0, up.stderr
    assert "tiny is up" in up.stdout
    assert re.search(r"seed\s+tiny seeded \['front', 'mail', 'pay'\] \(\d+\.\d s\)", up.stdout)

    again = msa(project, "up", "-d")
    assert again.returncode == 0 and "already running" in again.stdout

    status = json.loads(msa(project, "status", "--json").stdout)
    assert status["running"] is True
    assert [(row["instance"], row["ready"]) for row in status["instances"]] == [
        ("front-0", True), ("pay-0", True), ("mail-0", True)]
    pids = [row["pid"] for row in status["instances"]]
    pids += [status["postgres"]["pid"], status["nats"]["pid"], status["supervisor_pid"]]

    logs = msa(project, "logs", "pay", "--trace", "t-42")
    assert logs.returncode == 0 and "fake up" in logs.stdout and "front-0" not in logs.stdout

    down = msa(project, "down")
    assert down.returncode == 0 and down.stdout.startswith("stopped")
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    state = read_state(project / "data")
    assert state is not None and state.phase == "stopped"
    assert all(port_is_free(item.port) for item in state.instances)


def test_ctrl_c_stops_a_foreground_up_cleanly(stopped_at_end: Path) -> None:
    project = stopped_at_end
    env = {key: value for key, value in os.environ.items() if not key.startswith("MSA_")}
    env["PYTHONPATH"] = str(project)
    cli = subprocess.Popen(
        [sys.executable, "-m", "msa.tools.cli", "--system", str(project / "system.toml"), "up"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        text=True, cwd=project)
    try:
        deadline = time.monotonic() + 60
        while True:
            state = read_state(project / "data")
            if state is not None and state.phase == "running":
                break
            assert cli.poll() is None and time.monotonic() < deadline, cli.stderr
            time.sleep(0.05)
        pids = [item.pid for item in state.instances]
        assert state.forkserver is not None  # the instances were forked by it
        pids.append(state.forkserver.pid)
        assert state.postgres is not None and state.nats is not None
        servers = [state.postgres.pid, state.nats.pid]
        assert all(pid and psutil.pid_exists(pid) for pid in servers)
        # the postmaster's own processes (checkpointer, backends, ...) must end with it
        servers += [child.pid for child in psutil.Process(state.postgres.pid).children(True)]
        cli.send_signal(signal.SIGINT)
        out, _ = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == 0, out
    for pid in pids:
        assert pid and (not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie")
    for pid in servers:  # PostgreSQL and NATS are stopped too, not left behind
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", pid
    final = read_state(project / "data")
    assert final is not None and final.phase == "stopped"


def test_a_failing_seed_is_one_line_and_leaves_the_system_running(stopped_at_end: Path) -> None:
    project = stopped_at_end
    up = msa(project, "up", "-d", TINY_SEED="fail")

    assert up.returncode == 1
    assert up.stderr.splitlines()[-1] == (
        "msa: seed failed: pay answered 503 to POST /internal/pay/stock; the system keeps "
        "running (`msa down` stops it)")
    assert "tiny is up" in up.stdout and "seed " not in up.stdout
    status = json.loads(msa(project, "status", "--json").stdout)
    assert status["running"] is True and all(row["ready"] for row in status["instances"])

    assert msa(project, "down").returncode == 0
    skipped = msa(project, "up", "-d", "--no-seed", TINY_SEED="fail")
    assert skipped.returncode == 0, skipped.stderr
    assert "seed " not in skipped.stdout


def test_monolith_summary_shows_each_service_under_the_gateway(project: Path) -> None:
    from rich.console import Console

    from msa.system import load_system
    from msa.tools.runner import Runner
    from msa.tools.runner.views import summary

    runner = Runner(load_system(project / "system.toml"), data_dir=project / "data",
                    mode="monolith", free_ports=True)
    state = RunnerState(system="tiny", system_file="", data_dir="", mode="monolith",
                        gateway_url=runner.gateway_url)
    console = Console(width=200, record=True)
    console.print(summary(state, runner.addresses, "logs", 1.0, "tiny seeded"))
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
    gateway = runner.gateway_url

    assert re.search(rf"front\s+{gateway}\n", text)
    assert re.search(rf"pay\s+{gateway}/_svc/pay\n", text)
    assert re.search(rf"mail\s+{gateway}/_svc/mail\n", text)
    assert re.search(r"seed\s+tiny seeded", text)
