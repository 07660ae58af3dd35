"""system.toml is parsed into typed objects; every mistake is one clear line."""

from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import load_system, parse_system

MINIMAL = """
[system]
name = "shop"
gateway = "edge"

[teams.web]
[teams.pay]

[services.edge]
team = "web"
app = "edge.app:create_app"
port = 9000
database = false
calls = ["wallet"]

[services.wallet]
team = "pay"
app = "wallet.app:create_app"
port = 9001
replicas = 2
publishes = ["wallet.account.debited.v1"]
"""


def test_a_valid_description_gives_services_teams_and_edges():
    system = parse_system(MINIMAL)
    assert set(system.services) == {"edge", "wallet"}
    assert system.service("wallet").ports == [9001, 9002]
    assert system.service("edge").calls == ["wallet"]
    assert system.publisher_of == {"wallet.account.debited.v1": "wallet"}


def test_the_repository_description_is_valid():
    system = load_system(Path(__file__).parents[2] / "system.toml")
    assert system.system.gateway in system.services
    assert all(svc.team in system.teams for svc in system.services.values())


@pytest.mark.parametrize(("change", "message"), [
    (("port = 9000", "prot = 9000"), "services.edge.prot: unknown key"),
    (('calls = ["wallet"]', 'calls = ["ghost"]'), "services.edge.calls: unknown service 'ghost'"),
    (("port = 9001", "port = 9000"), "port 9000 is also used by services.edge"),
    (('team = "pay"', 'team = "nobody"'), "services.wallet.team: unknown team 'nobody'"),
    (('["wallet.account.debited.v1"]', '["edge.thing.v1"]'), "must look like"),
    (('["wallet.account.debited.v1"]', '["edge.account.debited.v1"]'),
     "must start with the publisher's name"),
    (('name = "shop"', 'name = "shop'), "system.toml:"),
])
def test_a_mistake_is_reported_in_one_line_naming_the_key(change, message):
    broken = MINIMAL.replace(*change)
    with pytest.raises(ConfigError) as caught:
        parse_system(broken)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_overlapping_replica_ports_are_refused():
    broken = MINIMAL.replace("port = 9000", "port = 9002")
    with pytest.raises(ConfigError, match="port 9002"):
        parse_system(broken)


@pytest.mark.parametrize(("local", "message"), [
    ("[local]\nnats_port = 8999\n", r"services\.edge\.port: port 9000 is also used by "
                                      r"local\.nats_port \+ 1 \(NATS monitoring\)"),
    ("[local]\nprometheus_port = 9001\n", r"services\.wallet\.port: port 9001 is also used by "
                                            r"local\.prometheus_port"),
    ("[local]\nprometheus_port = 5499\n", r"local\.prometheus_port: port 5499 is also used by "
                                            r"local\.postgres_port"),
])
def test_a_service_port_taken_by_nats_monitoring_or_prometheus_is_refused(local, message):
    with pytest.raises(ConfigError, match=message):
        parse_system(MINIMAL + local)


def test_consuming_an_event_nobody_publishes_is_refused():
    broken = MINIMAL.replace('calls = ["wallet"]', 'consumes = ["wallet.account.opened.v1"]')
    with pytest.raises(ConfigError, match=r"no service publishes 'wallet\.account\.opened\.v1'"):
        parse_system(broken)


def test_an_unknown_service_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown service 'ghost' \(known: edge, wallet\)"):
        parse_system(MINIMAL).service("ghost")


def test_an_edge_may_list_the_paths_its_caller_may_call():
    system = parse_system(MINIMAL.replace(
        'calls = ["wallet"]',
        'calls = ["wallet"]\n[services.edge.edges.wallet]\npaths = ["/internal/wallet/x"]'))
    assert system.service("edge").edge("wallet").paths == ["/internal/wallet/x"]
    assert parse_system(MINIMAL).service("edge").edge("wallet").paths is None


@pytest.mark.parametrize("path", ["internal/wallet", "", "/internal//wallet",
                                  "/internal/../wallet", "/internal\\\\wallet"])
def test_an_edge_path_must_be_a_plain_absolute_path(path: str):
    broken = MINIMAL.replace(
        'calls = ["wallet"]',
        f'calls = ["wallet"]\n[services.edge.edges.wallet]\npaths = ["{path}"]')
    with pytest.raises(ConfigError, match=r"services\.edge\.edges\.wallet\.paths: edge path"):
        parse_system(broken)
