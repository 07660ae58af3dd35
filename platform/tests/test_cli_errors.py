"""Usage errors of the `msa` command line: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from msa.tools import cli


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("args", "line"), [
    (["up", "--mode", "nonsense"],
     "msa: Invalid value for '--mode': 'nonsense' is not one of 'process', 'monolith'. "
     "(see `msa up --help`)"),
    (["up", "--gateway-port", "5"],
     "msa: Invalid value for '--gateway-port': Input should be greater than or equal to 1024 "
     "(see `msa up --help`)"),
    (["up", "--bogus"], "msa: No such option: --bogus (see `msa up --help`)"),
    (["nosuch"], "msa: No such command 'nosuch'. (see `msa --help`)"),
    (["sagas", "show"], "msa: Missing argument 'saga_id'. (see `msa sagas show --help`)"),
    (["up", "-d", "extra"],
     "msa: Got unexpected extra argument(s) (extra) (see `msa up --help`)"),
])
def test_a_usage_error_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    code, out, err = run_main(capsys, *args)

    assert (code, out, err) == (2, "", line + "\n")


def test_a_bad_option_value_from_the_real_entry_point_is_one_line_without_traceback() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MSA_")}
    done = subprocess.run([sys.executable, "-m", "msa.tools.cli", "up", "--mode", "nonsense"],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("msa: Invalid value for '--mode'")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_help_still_prints_the_usage_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "up", "--help")

    assert code == 0 and err == ""
    assert "Usage: msa up [OPTIONS]" in out and "--mode" in out


def test_a_group_without_a_command_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "sagas")

    assert code == 2
    assert "Usage: msa sagas [OPTIONS] COMMAND" in out + err
    assert "msa: " not in err


@pytest.fixture
def tiny_app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """`msa.tools.cli.main` running a stand-in app whose commands end in the ways a command may."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def abort() -> None:
        raise typer.Abort()

    @app.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    @app.command()
    def exit_3() -> None:
        raise typer.Exit(3)

    @app.command()
    def fine() -> None:
        print("done")

    monkeypatch.setattr(cli, "app", app)
    return app


@pytest.mark.usefixtures("tiny_app")
def test_an_abort_is_one_line_and_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "abort") == (1, "", "msa: aborted\n")


@pytest.mark.usefixtures("tiny_app")
def test_ctrl_c_in_a_command_exits_130_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "interrupt") == (130, "", "")


@pytest.mark.usefixtures("tiny_app")
def test_a_command_keeps_its_exit_code_and_success_is_0(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "exit-3") == (3, "", "")
    assert run_main(capsys, "fine") == (0, "done\n", "")
