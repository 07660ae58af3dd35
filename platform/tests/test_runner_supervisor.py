"""The supervisor with stand-in services: environment, restarts, backoff, clean stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from msa.errors import MsaError
from msa.system import System, load_system
from msa.tools.runner import Runner, RunnerState, read_state
from msa.tools.runner.control import stop_system
from msa.tools.runner.instances import backoff_delay
from msa.tools.runner.ports import free_port, port_is_free
from msa.tools.runner.processes import process_alive
from msa.tools.testing import SystemFactory, fake_service_command

SYSTEM_TOML = """
[system]
name = "shop"
gateway = "gateway"

[local]
postgres_port = {postgres}
nats_port = {nats}

[teams.web]
[teams.money]

[services.gateway]
team = "web"
app = "gateway.app:create_app"
port = {gateway}
database = false
calls = ["orders"]

[services.orders]
team = "money"
app = "orders.app:create_app"
port = {orders}
replicas = 2

[services.wallet]
team = "money"
app = "wallet.app:create_app"
port = {wallet}
"""


def write_system(folder: Path, gateway: int = 18000, orders: int = 18105,
                 wallet: int = 18107) -> System:
    path = folder / "system.toml"
    text = SYSTEM_TOML.format(gateway=gateway, orders=orders, wallet=wallet,
                              postgres=free_port(), nats=nats_port())
    path.write_text(text)
    return load_system(path)


def nats_port() -> int:
    """A free port whose neighbour (NATS monitoring) is free too."""
    while True:
        port = free_port()
        if port < 65535 and port_is_free(port + 1):
            return port


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as response:
        result: dict[str, object] = json.load(response)
        return result


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def our_pids(state: RunnerState) -> list[int]:
    servers = [item.pid for item in (state.postgres, state.nats) if item is not None]
    return [pid for pid in [*servers, *(item.pid for item in state.instances)] if pid]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    folder = tmp_path_factory.mktemp("shop")
    started = Runner(write_system(folder), data_dir=folder / ".msa", free_ports=True,
                     command=fake_service_command)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_each_replica_gets_its_port_the_addresses_and_only_its_database(runner: Runner) -> None:
    state = runner.status()
    assert [item.name for item in state.instances] == [
        "gateway-0", "orders-0", "orders-1", "wallet-0"]
    orders_1 = get_json(runner.addresses["orders"][1] + "/env")["env"]
    gateway = get_json(runner.url("gateway") + "/env")["env"]

    assert isinstance(orders_1, dict) and isinstance(gateway, dict)
    assert orders_1["MSA_INSTANCE"] == "orders-1"
    assert orders_1["MSA_PORT"] == str(state.instance("orders-1").port)
    assert orders_1["MSA_ENV"] == "dev"
    assert orders_1["MSA_NATS_URL"] == runner.servers.nats.url  # its own user, not the operator
    assert orders_1["MSA_DATABASE_URL"] == runner.database_url("orders")
    assert json.loads(orders_1["MSA_ADDRESSES"]) == runner.addresses
    assert "MSA_DATABASE_URL" not in gateway
    # a custom command runs as a plain subprocess of the supervisor: no fork server
    assert state.forkserver is None
    assert all(psutil.Process(item.pid).ppid() == os.getpid() for item in state.instances
               if item.pid)


async def test_the_database_url_handed_to_a_service_works(runner: Runner) -> None:
    conn = await asyncpg.connect(runner.database_url("wallet"))
    try:
        assert await conn.fetchval("SELECT current_user") == "wallet"
    finally:
        await conn.close()


def test_a_killed_service_is_restarted_and_ready_again_within_5_seconds(runner: Runner) -> None:
    before = runner.status().instance("orders-0")
    killed_at = time.monotonic()
    pid = runner.kill("orders-0")

    def back() -> bool:
        now = runner.status().instance("orders-0")
        return now.ready and now.pid not in (None, pid)

    wait_for(back, timeout=5)
    assert time.monotonic() - killed_at < 5
    after = runner.status().instance("orders-0")
    assert after.restarts == before.restarts + 1
    assert get_json(after.url + "/readyz")["pid"] == after.pid
    log = Path(after.log).read_text()
    assert f"process {pid} exited with code -9; restarting in 0.2 s" in log


def test_a_crashing_service_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    runner = Runner(write_system(tmp_path), data_dir=tmp_path / ".msa", free_ports=True,
                    command=fake_service_command, env_overrides={"FAKE_CRASH": "wallet"})
    runner.start(wait_ready=False)
    try:
        wait_for(lambda: runner.status().instance("wallet-0").restarts >= 3, timeout=30)
        assert runner.status().instance("orders-1").restarts == 0
    finally:
        runner.stop()
    log = (tmp_path / ".msa" / "logs" / "wallet-0.log").read_text()
    delays = [json.loads(line)["msg"].rsplit(" in ", 1)[1] for line in log.splitlines()
              if "restarting" in line]
    assert delays[:3] == ["0.2 s", "0.4 s", "0.8 s"]
    assert [backoff_delay(n) for n in (1, 2, 3, 6, 7, 20)] == [0.2, 0.4, 0.8, 5.0, 5.0, 5.0]


def test_waiting_stops_early_when_a_service_keeps_failing_on_its_settings(
    tmp_path: Path,
) -> None:
    runner = Runner(write_system(tmp_path), data_dir=tmp_path / ".msa", free_ports=True,
                    command=fake_service_command,
                    env_overrides={"FAKE_CRASH": "wallet", "FAKE_CRASH_CODE": "2"})
    began = time.monotonic()
    with pytest.raises(MsaError, match=r"^wallet-0 keeps failing: fake service: told to crash$"):
        runner.start()
    assert time.monotonic() - began < 10
    assert runner.status().phase == "stopped"


def test_a_command_that_cannot_run_is_reported_at_once(tmp_path: Path) -> None:
    runner = Runner(write_system(tmp_path), data_dir=tmp_path / ".msa", free_ports=True,
                    command=lambda service: ["/nonexistent/serve", service])
    with pytest.raises(MsaError, match=r"^gateway-0 keeps failing: cannot start "
                                       r"/nonexistent/serve: No such file or directory$"):
        runner.start()


def test_stop_leaves_no_process_of_ours_and_no_port_held(tmp_path: Path) -> None:
    runner = Runner(write_system(tmp_path), data_dir=tmp_path / ".msa", free_ports=True,
                    command=fake_service_command)
    runner.start()
    state = runner.status()
    pids = our_pids(state)
    assert len(pids) == 6

    runner.stop()

    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert all(port_is_free(port) for port in runner.ports.claims())
    assert runner.status().phase == "stopped"


def test_a_killed_supervisor_takes_its_services_along_and_down_stops_the_rest(
    tmp_path: Path,
) -> None:
    system, data = write_system(tmp_path), tmp_path / ".msa"
    script = (
        "import time\n"
        "from msa.tools.runner import Runner\n"
        "from msa.system import load_system\n"
        "from msa.tools.testing import fake_service_command\n"
        f"Runner(load_system({str(system.path)!r}), data_dir={str(data)!r}, free_ports=True,\n"
        "       command=fake_service_command).start()\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n")
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as supervisor:
        try:
            assert supervisor.stdout is not None and supervisor.stdout.readline() == "ready\n"
            state = read_state(data)
            assert state is not None and state.supervisor_pid == supervisor.pid
            supervisor.kill()
            supervisor.wait()
            assert state.nats is not None and state.postgres is not None
            children = [item.pid for item in state.instances] + [state.nats.pid]

            wait_for(lambda: not any(process_alive(pid) for pid in children))
            assert process_alive(state.postgres.pid)  # daemonised by pg_ctl: left for `down`
        finally:
            supervisor.kill()
            supervisor.wait()
            stop_system(data)
    assert not process_alive(state.postgres.pid)
    assert stop_system(data) is False


def test_monolith_mode_runs_workers_that_each_hold_every_database(
    msa_system_factory: SystemFactory, tmp_path: Path
) -> None:
    runner = msa_system_factory("monolith", system=write_system(tmp_path).path,
                                command=fake_service_command, workers=2)
    state = runner.status()
    env = get_json(runner.gateway_url + "/env")["env"]

    assert [item.name for item in state.instances] == ["monolith-0", "monolith-1"]
    assert isinstance(env, dict)
    assert env["MSA_SERVICE"] == "monolith"
    assert env["MSA_INSTANCE"] in ("monolith-0", "monolith-1")
    assert env["MSA_ENV"] == "test"
    assert "MSA_DATABASE_URL" not in env
    assert env["MSA_DATABASE_URL_ORDERS"] == runner.database_url("orders")
    assert env["MSA_DATABASE_URL_WALLET"] == runner.database_url("wallet")
    assert json.loads(env["MSA_ADDRESSES"]) == {
        name: [runner.gateway_url] for name in ("gateway", "orders", "wallet")}
    assert runner.addresses["orders"] == [runner.gateway_url + "/_svc/orders"]


def test_monolith_workers_share_the_public_port_and_each_has_its_own(
    msa_system_factory: SystemFactory, tmp_path: Path
) -> None:
    runner = msa_system_factory("monolith", system=write_system(tmp_path).path,
                                command=fake_service_command, workers=2)
    workers = {item.pid for item in runner.status().instances}
    own_ports = {item.port for item in runner.status().instances}
    answered = {get_json(runner.gateway_url + "/env")["pid"] for _ in range(40)}

    assert len(workers) == 2 and answered == workers  # the kernel spreads new connections
    assert len(own_ports) == 2 and runner.ports.shared not in own_ports
    assert {get_json(f"http://127.0.0.1:{port}/env")["pid"] for port in own_ports} == workers


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        runner = Runner(write_system(tmp_path, orders=port - 1), data_dir=tmp_path / ".msa",
                        command=fake_service_command)
        me = psutil.Process()
        with pytest.raises(MsaError, match=rf"^port {port} \(wanted by orders-1\) is already "
                                           rf"in use by {me.name()} \(pid {me.pid}\)$"):
            runner.start()
    assert not (tmp_path / ".msa" / "postgres").exists()


def test_a_second_supervisor_on_the_same_data_folder_is_refused(
    runner: Runner, tmp_path: Path
) -> None:
    assert runner.system.path is not None
    second = Runner(runner.system, data_dir=runner.data_dir, free_ports=True,
                    command=fake_service_command)
    with pytest.raises(MsaError, match="already running"):
        second.start()
    assert runner.status().phase == "running"


def test_monolith_workers_come_from_the_setting_or_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = write_system(tmp_path)
    monkeypatch.setenv("MSA_MONOLITH_WORKERS", "3")
    assert Runner(system, data_dir=tmp_path / "a", mode="monolith", free_ports=True).workers == 3
    assert Runner(system, data_dir=tmp_path / "b", mode="monolith", free_ports=True,
                  workers=1).workers == 1
    monkeypatch.setenv("MSA_MONOLITH_WORKERS", "many")
    with pytest.raises(MsaError, match="MSA_MONOLITH_WORKERS must be a number"):
        Runner(system, data_dir=tmp_path / "c", mode="monolith", free_ports=True)
    monkeypatch.delenv("MSA_MONOLITH_WORKERS")
    assert Runner(system, data_dir=tmp_path / "d", mode="monolith",
                  free_ports=True).workers == (os.cpu_count() or 1)
    assert Runner(system, data_dir=tmp_path / "e", free_ports=True).workers == 1
