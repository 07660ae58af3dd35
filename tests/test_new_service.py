"""`msa new service` end to end, in a copy of the repository with its own environment:
scaffold, answer behind the gateway of a running system, pass its own tests, appear in
every generated document, and leave the repository exactly as it was once removed.

Refusals are checked against the repository itself: they must write nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from msa.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_PARTS = {".venv", ".venv-tools", "__pycache__", ".pytest_cache", ".mypy_cache",
                 ".ruff_cache", ".msa", ".git"}

RUN_SYSTEM = """
import json, sys
from msa.tools.runner import Runner
from msa.system import load_system
runner = Runner(load_system(sys.argv[1]), data_dir=sys.argv[2], free_ports=True, env="test",
                ready_timeout=150)
try:
    runner.start()
    print(json.dumps({"gateway": runner.gateway_url}), flush=True)
    sys.stdin.read()
finally:
    runner.stop()
"""


def tree(root: Path) -> dict[str, str]:
    """Every file of the repository (no environments, caches or data) → its sha256."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED_PARTS & set(relative.parts):
            found[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".venv-tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed: run `make install`"
    return found


@pytest.fixture(scope="module")
def repository() -> Iterator[Path]:
    """A copy of the repository's files (tracked and new) with its own synced environment,
    in a folder the database's own system user can read (it loads its libraries from the
    copy's environment; pytest's temporary folders are private to their owner)."""
    copy = Path(tempfile.mkdtemp(prefix="msa-new-service-"))
    copy.chmod(0o755)
    try:
        yield _copy_of_repository(copy)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _copy_of_repository(copy: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    subprocess.run([uv(), "sync", "--frozen", "--quiet"], cwd=copy, check=True,
                   env=environment(copy), capture_output=True)
    return copy


def environment(copy: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MSA_", "VIRTUAL_ENV", "UV_PROJECT"))}
    env["PATH"] = f"{Path(uv()).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def msa(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(copy / ".venv" / "bin" / "msa"), *args], cwd=copy,
                          env=environment(copy), capture_output=True, text=True, timeout=300)


@pytest.fixture
def start_system(repository: Path, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """`start()` runs the copy's system (free ports, fresh data) and returns the gateway's
    URL; the system is stopped at the end, also on failure."""
    processes: list[subprocess.Popen[str]] = []

    def start() -> str:
        process = subprocess.Popen(
            [str(repository / ".venv" / "bin" / "python"), "-c", RUN_SYSTEM,
             str(repository / "system.toml"), str(tmp_path / "data")],
            cwd=repository, env=environment(repository), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"the system did not start (exit code {process.poll()})"
        return str(json.loads(line)["gateway"])

    try:
        yield start
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def answer_through_gateway(gateway: str, service: str, seconds: float = 60.0) -> httpx.Response:
    """The service's own 404 problem for an unknown item, through the gateway."""
    deadline = time.monotonic() + seconds
    url = f"{gateway}/api/{service}/items/{uuid.uuid4()}"
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 404 and "no item" in response.json().get("detail", ""):
                return response
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{service} never answered through the gateway"
        time.sleep(0.2)


def test_a_new_service_answers_behind_the_gateway_and_its_removal_restores_the_repository(
        repository: Path, start_system: Callable[[], str]) -> None:
    before = tree(repository)
    started = time.monotonic()
    made = msa(repository, "new", "service", "shipping", "--team", "fulfilment",
               "--publishes", "shipping.parcel.sent.v1",
               "--consumes", "orders.order.confirmed.v1", "--calls", "inventory")
    assert made.returncode == 0, made.stderr
    scaffolded = time.monotonic() - started

    gateway = start_system()
    ready = time.monotonic() - started
    answer = answer_through_gateway(gateway, "shipping")
    assert answer.headers["content-type"].startswith("application/problem+json")
    answered = time.monotonic() - started
    sys.stderr.write(f"\nmsa new service took {scaffolded:.1f} s; the system was ready "
                     f"{ready:.1f} s and the service answered through the gateway "
                     f"{answered:.1f} s after `msa new service` started\n")

    assert "/services/shipping/ @bookstore/fulfilment" in (repository / "CODEOWNERS").read_text()
    readme = (repository / "README.md").read_text()
    assert 'shipping["shipping · own db"]' in readme
    assert "orders -.->|order.confirmed| shipping" in readme
    assert "shipping" in (repository / "deploy" / "monitoring" / "prometheus.yml").read_text()
    workflow = (repository / ".github" / "workflows" / "shipping.yml").read_text()
    assert '"services/shipping/**"' in workflow
    assert "make test-service SERVICE=shipping" in workflow
    catalog = json.loads((repository / "docs" / "events.asyncapi.json").read_text())
    assert catalog["channels"]["shipping_parcel_sent_v1"]["x-publisher"] == "shipping"

    tested = subprocess.run(
        [str(repository / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider",
         "services/shipping"], cwd=repository, env=environment(repository),
        capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout
    checked = msa(repository, "docs", "--check")
    assert checked.returncode == 0, checked.stderr

    removed = msa(repository, "remove", "service", "shipping")
    assert removed.returncode == 0, removed.stderr
    assert tree(repository) == before


@pytest.mark.parametrize(("args", "says"), [
    (["catalog", "--team", "discovery"], "already exists"),
    (["Shipping", "--team", "fulfilment"], "not a DNS label"),
    (["ship_it", "--team", "fulfilment"], "not a DNS label"),
    (["gift-cards", "--team", "fulfilment"], "letters and digits only"),
    (["shipping", "--team", "nobody"], "unknown team 'nobody'"),
    (["shipping", "--team", "fulfilment", "--consumes", "orders.order.lost.v1"],
     "unknown event 'orders.order.lost.v1'"),
    (["shipping", "--team", "fulfilment", "--publishes", "orders.parcel.sent.v1"],
     "must look like 'shipping.entity.happened.v1'"),
    (["shipping", "--team", "fulfilment", "--calls", "nowhere"], "unknown service 'nowhere'"),
    (["shipping", "--team", "fulfilment", "--no-database", "--publishes",
      "shipping.parcel.sent.v1"], "needs its database"),
    (["json", "--team", "fulfilment"], "importable Python module"),
])
def test_a_service_that_cannot_be_made_is_refused_in_one_line_and_nothing_is_written(
        args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(ROOT)
    with pytest.raises(SystemExit) as exited:
        main(["--system", str(ROOT / "system.toml"), "new", "service", *args, "--no-sync"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("msa: ") and error.count("\n") == 1, error
    assert says in error
    assert tree(ROOT) == before


@pytest.mark.parametrize(("name", "says"), [
    ("orders", "orders is still used by reviews, notifications"),
    ("gateway", "gateway is the gateway"),
    ("nope", "unknown service 'nope'"),
])
def test_a_service_that_cannot_be_removed_is_refused_in_one_line_and_nothing_changes(
        name: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(ROOT)
    with pytest.raises(SystemExit) as exited:
        main(["--system", str(ROOT / "system.toml"), "remove", "service", name, "--no-sync"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("msa: ") and error.count("\n") == 1 and says in error, error
    assert tree(ROOT) == before
