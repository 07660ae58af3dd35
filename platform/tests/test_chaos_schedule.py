"""Fault schedules are a pure function of the seed and the profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import System, parse_system
from msa.tools.chaos.harness import ChaosOptions, make_schedule
from msa.tools.chaos.schedule import FAULT_KINDS, LINK_KINDS, PROFILES, FaultTargets, plan

SYSTEM_TOML = """
[system]
name = "shop"
gateway = "edge"

[teams.core]
description = "Everything"

[services.edge]
team = "core"
app = "shop:app"
port = 9100
database = false
calls = ["pay"]

[services.pay]
team = "core"
app = "shop:app"
port = 9101
replicas = 2
publishes = ["pay.payment.made.v1", "pay.ledger.kept.v1"]

[services.mail]
team = "core"
app = "shop:app"
port = 9103
consumes = ["pay.payment.made.v1"]

[services.books]
team = "core"
app = "shop:app"
port = 9104
"""


@pytest.fixture
def system(tmp_path: Path) -> System:
    path = tmp_path / "system.toml"
    path.write_text(SYSTEM_TOML)
    return parse_system(SYSTEM_TOML, path)


def test_the_same_seed_plans_the_same_faults(system: System) -> None:
    targets = FaultTargets.of(system)

    first = plan(1234, PROFILES["short"], targets)
    second = plan(1234, PROFILES["short"], targets)

    assert first == second
    assert first.to_dict() == second.to_dict()


def test_another_seed_or_profile_plans_other_faults(system: System) -> None:
    targets = FaultTargets.of(system)
    schedule = plan(1, PROFILES["short"], targets)

    assert plan(2, PROFILES["short"], targets).events != schedule.events
    assert plan(1, PROFILES["long"], targets).events[:5] != schedule.events[:5]


def test_the_schedule_replays_in_another_process(system: System) -> None:
    assert system.path is not None
    script = ("import json, sys; from msa.tools.chaos.harness import ChaosOptions, make_schedule; "
              "from msa.system import load_system; "
              "print(json.dumps(make_schedule(load_system(sys.argv[1]), "
              "ChaosOptions(seed=99)).to_dict()))")
    runs = [subprocess.run([sys.executable, "-c", script, str(system.path)], check=True,
                           capture_output=True, text=True, timeout=60,
                           env={"PYTHONHASHSEED": str(n), "PATH": "/usr/bin:/bin"}).stdout
            for n in (1, 2)]

    assert json.loads(runs[0]) == json.loads(runs[1])
    assert json.loads(runs[0]) == json.loads(json.dumps(
        make_schedule(system, ChaosOptions(seed=99)).to_dict()))


def test_the_short_profile_has_every_kind_and_at_least_ten_faults(system: System) -> None:
    for seed in range(20):
        schedule = plan(seed, PROFILES["short"], FaultTargets.of(system))

        assert len(schedule.events) >= 10
        assert {event.kind for event in schedule.events} == set(FAULT_KINDS)


def test_the_long_profile_has_over_a_hundred_faults_in_ten_minutes(system: System) -> None:
    schedule = plan(7, PROFILES["long"], FaultTargets.of(system))

    assert schedule.duration >= 600
    assert len(schedule.events) >= 100


def test_faults_fall_inside_the_fault_phase_in_order_on_real_targets(system: System) -> None:
    targets = FaultTargets.of(system)
    schedule = plan(5, PROFILES["short"], targets)
    times = [event.at for event in schedule.events]

    assert times == sorted(times)
    assert times[0] > 0 and times[-1] < schedule.duration
    assert set(schedule.linked) <= {"pay", "mail", "books"}
    for event in schedule.events:
        if event.kind in ("kill", "pause"):
            assert event.target in {"edge-0", "pay-0", "pay-1", "mail-0", "books-0"}
        elif event.kind in LINK_KINDS:
            assert event.target in schedule.linked
            assert event.params["link"] in ("db", "nats")
            assert event.target != "books" or event.params["link"] == "db"  # no messaging
        elif event.kind == "duplicate":
            assert event.target == "pay"  # the only publisher with a consumer


def test_a_shorter_duration_scales_the_fault_count(system: System) -> None:
    schedule = plan(3, PROFILES["short"], FaultTargets.of(system), kinds=["duplicate"],
                    duration=25)

    assert schedule.duration == 25
    assert 3 <= len(schedule.events) <= 6
    assert {event.kind for event in schedule.events} == {"duplicate"}


def test_an_attached_system_gets_no_link_faults(system: System) -> None:
    schedule = make_schedule(system, ChaosOptions(seed=8), attached=True)

    assert not {event.kind for event in schedule.events} & LINK_KINDS
    assert schedule.linked == ()


@pytest.mark.parametrize(("options", "message"), [
    (ChaosOptions(seed=1, profile="medium"), "unknown profile 'medium' (known: short, long)"),
    (ChaosOptions(seed=1, kinds=["kill", "flood"]), "unknown fault kind 'flood'"),
    (ChaosOptions(seed=1, duration=-5), "duration must be a positive number of seconds, not -5"),
])
def test_bad_choices_are_refused_in_one_line(system: System, options: ChaosOptions,
                                             message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_schedule(system, options)

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
