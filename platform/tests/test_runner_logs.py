"""Reading logs: selection, merge by timestamp, filters, following appended lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import System, load_system
from msa.tools.runner.logs import Follower, LogFilter, read_merged, select_files


def line(ts: str, msg: str, level: str = "info", **extra: str) -> str:
    return json.dumps({"ts": ts, "level": level, "msg": msg, **extra})


@pytest.fixture
def system(tmp_path: Path) -> System:
    path = tmp_path / "system.toml"
    path.write_text(
        '[system]\nname = "shop"\ngateway = "gateway"\n[teams.web]\n'
        '[services.gateway]\nteam = "web"\napp = "g.app:create_app"\nport = 9000\n'
        'database = false\n'
        '[services.orders]\nteam = "web"\napp = "o.app:create_app"\nport = 9100\nreplicas = 2\n')
    return load_system(path)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "orders-0.log").write_text("\n".join([
        line("2026-01-01T10:00:01.000+00:00", "first"),
        line("2026-01-01T10:00:03.000+00:00", "boom", "error", trace_id="t1"),
        "Traceback (most recent call last):",
        line("2026-01-01T10:00:05.000+00:00", "late", trace_id="t2"),
    ]) + "\n")
    (logs / "orders-1.log").write_text(line("2026-01-01T10:00:02.000+00:00", "second") + "\n")
    (logs / "gateway-0.log").write_text(line("2026-01-01T10:00:04.000Z", "edge") + "\n")
    (logs / "postgres.log").write_text("2026-01-01 LOG:  ready\n")
    return logs


def test_lines_of_all_instances_merge_in_time_order(log_dir: Path, system: System) -> None:
    lines = read_merged(select_files(log_dir, system, None), LogFilter())

    assert [item.message for item in lines] == [
        "first", "second", "boom", "Traceback (most recent call last):", "edge", "late"]


def test_a_service_selects_its_replicas_and_an_instance_only_itself(
    log_dir: Path, system: System
) -> None:
    assert set(select_files(log_dir, system, "orders")) == {"orders-0", "orders-1"}
    assert set(select_files(log_dir, system, "orders-1")) == {"orders-1"}
    assert set(select_files(log_dir, system, "postgres")) == {"postgres"}


def test_an_unknown_service_names_the_known_ones(log_dir: Path, system: System) -> None:
    with pytest.raises(ConfigError, match=r"unknown service 'nope' \(known: gateway, orders"):
        select_files(log_dir, system, "nope")
    with pytest.raises(ConfigError):
        select_files(log_dir, system, "orders-x")


def test_level_and_trace_filters_keep_the_lines_that_follow(
    log_dir: Path, system: System
) -> None:
    files = select_files(log_dir, system, None)

    errors = read_merged(files, LogFilter(level="warning"))
    traced = read_merged(files, LogFilter(trace="t2"))

    assert [item.message for item in errors] == ["boom", "Traceback (most recent call last):"]
    assert [item.message for item in traced] == ["late"]
    with pytest.raises(ConfigError, match="unknown level"):
        LogFilter(level="loud")


def test_the_follower_yields_only_complete_new_lines(log_dir: Path, system: System) -> None:
    follower = Follower(select_files(log_dir, system, "orders"), LogFilter())
    assert follower.poll() == []

    with open(log_dir / "orders-1.log", "a") as log:
        log.write(line("2026-01-01T10:00:09+00:00", "new") + "\n" + '{"ts": "2026-01-01T1')
    assert [item.message for item in follower.poll()] == ["new"]

    with open(log_dir / "orders-1.log", "a") as log:
        log.write('0:00:10+00:00", "msg": "joined"}\n')
    assert [item.message for item in follower.poll()] == ["joined"]
