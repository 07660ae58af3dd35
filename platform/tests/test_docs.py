"""Generated documents: CODEOWNERS, the README diagram and the event catalog match system.toml."""

from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import load_system
from msa.tools import docs

ROOT = Path(__file__).parents[2]


def test_the_committed_documents_are_what_system_toml_gives():
    stale = docs.stale(load_system(ROOT / "system.toml"))
    assert stale == [], f"run `msa docs`: stale {stale}"


def test_every_service_has_an_owner_in_codeowners():
    system = load_system(ROOT / "system.toml")
    owners = docs.codeowners(system)
    for svc in system.services.values():
        assert f"/services/{svc.package}/ {system.teams[svc.team].github}" in owners


def test_the_diagram_shows_every_call_and_event_edge():
    system = load_system(ROOT / "system.toml")
    text = docs.diagram(system)
    assert "orders -->|HTTP| wallet" in text
    assert "orders -.->|order.confirmed| notifications" in text


def test_the_event_catalog_lists_publisher_consumers_and_schema():
    catalog = docs.event_catalog(load_system(ROOT / "system.toml"))
    channel = catalog["channels"]["orders_order_confirmed_v1"]
    assert channel["x-publisher"] == "orders"
    assert channel["x-consumers"] == ["reviews", "notifications"]  # reviews: verified purchases
    schema = catalog["components"]["messages"]["orders_order_confirmed_v1"]["payload"]
    assert {"order_id", "user_id", "total_cents", "lines"} <= set(schema["properties"])


def test_a_declared_event_without_a_schema_is_an_error(tmp_path):
    text = (ROOT / "system.toml").read_text().replace(
        'publishes = ["reviews.rating.changed.v1"]',
        'publishes = ["reviews.rating.changed.v1", "reviews.review.hidden.v1"]')
    path = tmp_path / "system.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"reviews\.review\.hidden\.v1 .* has no schema class"):
        docs.event_catalog(load_system(path))
