"""The fork server: service processes forked from one process that imported their code.

A small system with a stand-in app (real `msa.serve`, real PostgreSQL and NATS) shows
what a forked instance gets, how the supervisor learns of its exits, and what
happens when an instance or the fork server itself is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from msa.runner_state import RunnerState
from msa.system import System, load_system
from msa.tools.runner import Runner, read_state
from msa.tools.runner.control import stop_system
from msa.tools.runner.forkserver import ForkServer, ForkServerError
from msa.tools.runner.launcher import Launcher, fork_server_wanted, shared_env
from msa.tools.runner.plan import InstanceSpec
from msa.tools.runner.ports import free_port, port_is_free
from msa.tools.runner.processes import process_alive

APP = '''
import os
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

IMPORTED_IN = os.getpid()


def create_app(settings, system=None, **kwargs):
    async def ready(request):
        return JSONResponse({"status": "ready"})

    async def env(request):
        return JSONResponse({"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
                             "imported_in": IMPORTED_IN, "env": dict(os.environ)})

    print("forkapp serving", settings.instance_name, flush=True)
    return Starlette(routes=[Route("/readyz", ready), Route("/env", env)])
'''

THREADED = '''
import threading
threading.Thread(target=threading.Event().wait, daemon=True).start()
'''

SYSTEM_TOML = """
[system]
name = "forky"
gateway = "front"

[local]
postgres_port = {postgres}
nats_port = {nats}

[teams.web]

[services.front]
team = "web"
app = "forkapp:create_app"
port = {front}
database = false

[services.pay]
team = "web"
app = "forkapp:create_app"
port = {pay}
replicas = 2
"""


def write_project(folder: Path) -> System:
    (folder / "forkapp.py").write_text(APP)
    (folder / "threaded.py").write_text(THREADED)
    path = folder / "system.toml"
    path.write_text(SYSTEM_TOML.format(postgres=free_port(), nats=free_port(),
                                       front=free_port(), pay=free_port()))
    return load_system(path)


def new_runner(folder: Path) -> Runner:
    return Runner(write_project(folder), data_dir=folder / ".msa", free_ports=True,
                  env_overrides={"PYTHONPATH": str(folder)})


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=2) as response:
        result: dict[str, Any] = json.load(response)
        return result


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds it took until `condition()`; fails the test after `timeout`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - began


def our_pids(state: RunnerState) -> list[int]:
    pids = [item.pid for item in state.instances]
    pids += [state.forkserver.pid if state.forkserver else None]
    pids += [server.pid for server in (state.postgres, state.nats) if server is not None]
    return [pid for pid in pids if pid]


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    started = new_runner(tmp_path_factory.mktemp("forky"))
    try:
        started.start()
        yield started
    finally:
        started.stop()


def test_instances_are_forked_with_their_own_session_environment_and_log(runner: Runner) -> None:
    state = runner.status()
    zygote = state.forkserver
    assert zygote is not None and zygote.ready and zygote.error is None
    assert process_alive(zygote.pid, zygote.create_time)

    for spec in runner.specs:
        item = state.instance(spec.name)
        seen = get_json(f"{spec.url}/env")
        assert seen["pid"] == item.pid
        assert seen["ppid"] == seen["imported_in"] == zygote.pid  # forked, code preloaded
        assert seen["sid"] == item.pid  # a session of its own, as a subprocess would have
        assert seen["env"] == dict(spec.env)  # exactly the planned environment
        assert f"forkapp serving {spec.name}" in Path(item.log).read_text()
    pay_1 = dict(runner.specs[2].env)
    assert pay_1["MSA_INSTANCE"] == "pay-1" and pay_1["MSA_DATABASE_URL"]
    assert "MSA_DATABASE_URL" not in runner.specs[0].env


def test_a_killed_instance_is_forked_again_and_ready_within_a_second_or_two(
    runner: Runner,
) -> None:
    before = runner.status().instance("pay-0")
    pid = runner.kill("pay-0")

    def back() -> bool:
        now = runner.status().instance("pay-0")
        return now.ready and now.pid not in (None, pid)

    took = wait_for(back, timeout=5)
    after = runner.status().instance("pay-0")
    assert took < 3, f"ready again after {took:.2f} s"
    assert after.restarts == before.restarts + 1 and after.last_exit == -signal.SIGKILL
    assert psutil.Process(after.pid).ppid() == runner.status().forkserver.pid  # type: ignore[union-attr]
    wait_for(lambda: not psutil.pid_exists(pid), timeout=2)  # reaped: not even a zombie
    assert f"process {pid} exited with code -9; restarting in 0.2 s" in Path(after.log).read_text()


def test_a_killed_fork_server_is_replaced_and_its_instances_started_again(runner: Runner) -> None:
    before = runner.status()
    assert before.forkserver is not None
    old_zygote, old_pids = before.forkserver.pid, [item.pid for item in before.instances]
    assert old_zygote is not None
    runner.kill("forkserver")

    def all_back() -> bool:
        state = runner.status()
        return (state.forkserver is not None and state.forkserver.ready
                and state.forkserver.pid not in (None, old_zygote) and state.all_ready
                and not {item.pid for item in state.instances} & set(old_pids))

    wait_for(all_back, timeout=60)
    after = runner.status()
    assert after.forkserver is not None and after.forkserver.restarts == 1
    assert all(gone(pid) for pid in old_pids if pid)
    for item in after.instances:
        assert psutil.Process(item.pid).ppid() == after.forkserver.pid
        assert item.restarts >= 1


def test_stop_leaves_no_process_no_zombie_and_no_port(tmp_path: Path) -> None:
    runner = new_runner(tmp_path)
    try:
        runner.start()
        pids = our_pids(runner.status())
        assert len(pids) == 3 + 1 + 2  # instances, fork server, PostgreSQL and NATS
    finally:
        runner.stop()
    assert all(gone(pid) for pid in pids)
    assert not [child for child in psutil.Process().children(recursive=True)
                if child.status() == "zombie"]
    assert all(port_is_free(port) for port in runner.ports.claims())
    state = runner.status()
    assert state.phase == "stopped" and state.forkserver is not None
    assert state.forkserver.pid is None


def test_a_killed_supervisor_takes_the_fork_server_and_its_children_along(tmp_path: Path) -> None:
    system, data = write_project(tmp_path), tmp_path / ".msa"
    script = textwrap.dedent(f"""
        import time
        from msa.tools.runner import Runner
        from msa.system import load_system
        Runner(load_system({str(system.path)!r}), data_dir={str(data)!r}, free_ports=True,
               env_overrides={{"PYTHONPATH": {str(tmp_path)!r}}}).start()
        print("ready", flush=True)
        time.sleep(300)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as supervisor:
        try:
            assert supervisor.stdout is not None and supervisor.stdout.readline() == "ready\n"
            state = read_state(data)
            assert state is not None and state.forkserver is not None
            children = [item.pid for item in state.instances if item.pid]
            zygote = state.forkserver.pid
            assert zygote is not None and len(children) == 3
            supervisor.kill()
            supervisor.wait()
            wait_for(lambda: not any(process_alive(pid) for pid in [zygote, *children]))
        finally:
            supervisor.kill()
            supervisor.wait()
            stop_system(data)


# -- the fork server on its own ------------------------------------------------


def serve_env(folder: Path, service: str, port: int) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(folder),
            "PYTHONUNBUFFERED": "1", "MSA_SERVICE": service, "MSA_INSTANCE": f"{service}-0",
            "MSA_PORT": str(port), "MSA_SYSTEM_FILE": str(folder / "system.toml"),
            "MSA_ENV": "test"}


def test_the_fork_server_reports_pids_exit_codes_and_import_failures(tmp_path: Path) -> None:
    write_project(tmp_path)
    server = ForkServer(["forkapp", "no_such_module_here"], env={"PYTHONPATH": str(tmp_path)},
                        log_path=tmp_path / "forkserver.log")
    server.start()
    try:
        hello = asyncio.run(server.ready())
        assert hello["forkable"] is True and hello["pid"] == server.pid
        assert list(hello["failed"]) == ["no_such_module_here"]

        port = free_port()
        log = tmp_path / "front-0.log"
        running = asyncio.run(server.spawn(["front"], serve_env(tmp_path, "front", port), log))
        wait_for(lambda: port_is_free(port) is False)
        assert running.poll() is None
        os.kill(running.pid, signal.SIGKILL)
        assert running.wait(10) == -signal.SIGKILL

        unknown = asyncio.run(server.spawn(["nope"], serve_env(tmp_path, "nope", free_port()),
                                           tmp_path / "nope-0.log"))
        assert unknown.wait(10) == 2  # msa.serve's exit code for a configuration error
        assert "msa.serve: " in (tmp_path / "nope-0.log").read_text()
        assert "forkapp serving front-0" in log.read_text()
    finally:
        server.close()
    assert not server.alive and server.pid is not None and gone(server.pid)


def test_a_thread_started_while_preloading_makes_instances_start_as_subprocesses(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    changes: list[Any] = []
    spec = InstanceSpec("front-0", "front", "web", free_port(),
                        (sys.executable, "-c", "import time; time.sleep(30)"),
                        {"PYTHONPATH": str(tmp_path), "PATH": os.environ.get("PATH", "")},
                        serve_args=("front",))
    launcher = Launcher([spec], ["threaded"], tmp_path, changes.append, fork=True)

    async def launch() -> Any:
        launcher.start()
        try:
            return await launcher.launch(spec, tmp_path / "front-0.log")
        finally:
            await launcher.close()

    child = asyncio.run(launch())
    try:
        assert isinstance(child, subprocess.Popen)  # the fallback: a plain subprocess
        assert not launcher.enabled
        assert "threads run after preloading" in (tmp_path / "forkserver.log").read_text()
    finally:
        child.kill()
        child.wait()


def test_when_a_fork_server_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSA_FORK_SERVER", raising=False)
    assert fork_server_wanted(None) is True
    assert fork_server_wanted(False) is False
    monkeypatch.setenv("MSA_FORK_SERVER", "0")
    assert fork_server_wanted(None) is False
    assert fork_server_wanted(True) is True
    assert shared_env([{"A": "1", "B": "2"}, {"A": "1", "B": "3"}]) == {"A": "1"}
    with pytest.raises(ForkServerError):
        asyncio.run(ForkServer([], env={}, log_path=Path("/nonexistent/x.log")).spawn(
            ["front"], {}, Path("/nonexistent/y.log")))
