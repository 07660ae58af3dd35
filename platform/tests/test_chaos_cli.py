"""`msa chaos` as a user meets it: bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from msa.tools.cli import main

SYSTEM_TOML = """
[system]
name = "tiny"
gateway = "front"

[teams.web]
description = "The edge"

[services.front]
team = "web"
app = "tinyapp:create_app"
port = 9200
database = false
calls = ["pay"]

[services.pay]
team = "web"
app = "tinyapp:create_app"
port = 9201
publishes = ["pay.payment.made.v1"]

[services.mail]
team = "web"
app = "tinyapp:create_app"
port = 9202
consumes = ["pay.payment.made.v1"]
"""


@pytest.fixture
def system_file(tmp_path: Path) -> Path:
    path = tmp_path / "system.toml"
    path.write_text(SYSTEM_TOML)
    return path


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("args", "message"), [
    (["--profile", "medium"], "msa: unknown profile 'medium' (known: short, long)\n"),
    (["--faults", "kill,flood"], "msa: unknown fault kind 'flood' (known: kill, pause, nats, "
                                 "postgres, slow-link, broken-link, duplicate)\n"),
    (["--duration", "-5"], "msa: --duration must be a positive number of seconds, not -5\n"),
    (["--duration", "nan"], "msa: --duration must be a positive number of seconds, not nan\n"),
    (["--duration", "inf"], "msa: --duration must be a positive number of seconds, not inf\n"),
    (["--faults", ","], "msa: no fault kinds chosen\n"),
    (["--clients", "0"], "msa: --clients must be at least 1, not 0\n"),
])
def test_bad_choices_are_one_line_and_exit_1(system_file: Path, capsys: pytest.CaptureFixture[str],
                                             args: list[str], message: str) -> None:
    code, out, err = run_main(capsys, "--system", str(system_file), "chaos", *args)

    assert (code, out, err) == (1, "", message)


def test_attaching_to_a_system_that_is_not_running_is_one_line(
        system_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--system", str(system_file), "chaos", "--attach",
                              "--data-dir", str(tmp_path / "nothing"))

    assert code == 1 and out == ""
    assert err.startswith("msa: tiny is not running from ") and err.count("\n") == 1


def test_link_faults_need_a_system_chaos_starts(system_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "--system", str(system_file), "chaos", "--attach",
                            "--faults", "slow-link,broken-link")

    assert code == 1
    assert err == "msa: link faults need a system that chaos starts (not --attach)\n"


def test_the_plan_of_a_seed_is_the_same_every_time(system_file: Path) -> None:
    def planned() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "msa.tools.cli", "--system", str(system_file), "chaos", "--seed",
             "42", "--profile", "long", "--plan"],
            capture_output=True, text=True, timeout=60, check=True)
        found: dict[str, object] = json.loads(done.stdout)
        return found

    first, second = planned(), planned()

    assert first == second
    assert first["seed"] == 42 and first["profile"] == "long"
    assert isinstance(first["events"], list) and len(first["events"]) >= 100
