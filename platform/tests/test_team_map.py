"""The team map: per pair of teams, the calls and event flows that cross between them."""

from pathlib import Path

import pytest

from msa.system import load_system, parse_system
from msa.tools.cli import main
from msa.tools.team_map import Crossing, crossings, diagram

ROOT = Path(__file__).resolve().parents[2]

SMALL = """
[system]
name = "shop"
gateway = "front"
[teams.edge]
[teams.money]
[teams.mail]
[services.front]
team = "edge"
app = "front.app:create_app"
port = 8000
database = false
calls = ["pay", "bill"]
[services.pay]
team = "money"
app = "pay.app:create_app"
port = 8001
publishes = ["pay.payment.made.v1"]
[services.bill]
team = "money"
app = "bill.app:create_app"
port = 8002
consumes = ["pay.payment.made.v1"]
[services.mail]
team = "mail"
app = "mail.app:create_app"
port = 8003
consumes = ["pay.payment.made.v1"]
"""


def test_calls_and_event_flows_are_counted_per_team_pair_and_not_inside_a_team() -> None:
    assert crossings(parse_system(SMALL)) == {
        ("edge", "money"): Crossing(calls=2, events=0),
        ("mail", "money"): Crossing(calls=0, events=1),
    }


def test_the_diagram_labels_each_pair_with_what_crosses_it() -> None:
    text = diagram(parse_system(SMALL))
    assert 'edge ---|"2 calls, 0 events"| money' in text
    assert 'mail ---|"0 calls, 1 events"| money' in text


def test_msa_teams_prints_the_coordination_table(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--system", str(ROOT / "system.toml"), "teams"])
    out = capsys.readouterr().out
    table = out.split("Coordination between teams")[1]
    first = next(iter(crossings(load_system(ROOT / "system.toml")).items()))
    (team_a, team_b), crossing = first
    assert team_a in table and team_b in table and str(crossing.events) in table
