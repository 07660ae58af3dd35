"""Contract checks: a breaking change of an API or an event fails and names its consumers;
an additive one passes. The APIs are real FastAPI documents, the events real schemas."""

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from msa.events import Event
from msa.system import load_system, parse_system
from msa.tools import contracts
from msa.tools.contract_diff import openapi_breaks, schema_breaks

ROOT = Path(__file__).resolve().parents[2]


def api(answer: type[BaseModel], request: type[BaseModel]) -> dict[str, Any]:
    app = FastAPI()

    @app.post("/api/things", response_model=answer, status_code=201)
    async def make(body: request) -> dict[str, Any]:  # type: ignore[valid-type]
        return {}

    return app.openapi()


class Thing(BaseModel):
    id: uuid.UUID
    name: str
    price_cents: int


class NewThing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


BEFORE = api(Thing, NewThing)


def breaks(after: dict[str, Any]) -> list[str]:
    return [f"{where}: {change}" for where, change in openapi_breaks(BEFORE, after)]


def test_a_removed_response_field_breaks() -> None:
    class ThingWithoutPrice(BaseModel):
        id: uuid.UUID
        name: str

    assert breaks(api(ThingWithoutPrice, NewThing)) == [
        "POST /api/things: response 201 field 'price_cents' is gone"]


def test_a_retyped_response_field_breaks() -> None:
    class ThingWithTextPrice(BaseModel):
        id: uuid.UUID
        name: str
        price_cents: str

    assert breaks(api(ThingWithTextPrice, NewThing)) == [
        "POST /api/things: response 201 field 'price_cents' changed type from integer to string"]


def test_a_new_required_request_field_breaks() -> None:
    class NewThingWithColour(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        colour: str

    assert breaks(api(Thing, NewThingWithColour)) == [
        "POST /api/things: request field 'colour' is now required"]


def test_an_added_optional_field_and_a_new_response_field_pass() -> None:
    class NewThingWithColour(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        colour: str | None = None

    class ThingWithColour(Thing):
        colour: str | None = None

    assert breaks(api(ThingWithColour, NewThingWithColour)) == []


def test_a_removed_route_breaks() -> None:
    assert breaks(FastAPI().openapi()) == ["POST /api/things: the route is gone"]


class ParcelSent(Event):
    type = "shipping.parcel.sent.v1"
    parcel_id: uuid.UUID
    weight_grams: int


def event_breaks(after: type[Event]) -> list[str]:
    old, new = ParcelSent.model_json_schema(), after.model_json_schema()
    return schema_breaks(old, new, old, new, "", reading=True, writing=True)


def test_an_incompatible_event_change_breaks() -> None:
    class ParcelSentInKilos(Event):
        type = "shipping.parcel.sent.v2"
        parcel_id: uuid.UUID
        weight_kilos: float

    assert event_breaks(ParcelSentInKilos) == [
        "field 'weight_grams' is gone", "field 'weight_kilos' is now required"]


def test_an_event_with_a_new_optional_field_passes() -> None:
    class ParcelSentWithCarrier(Event):
        type = "shipping.parcel.sent.v3"
        parcel_id: uuid.UUID
        weight_grams: int
        carrier: str | None = None

    assert event_breaks(ParcelSentWithCarrier) == []


def test_the_check_names_the_consumers_a_change_breaks(tmp_path: Path) -> None:
    """Snapshots that promise more than the code gives: catalog's callers and the
    consumers of its event are named."""
    system = parse_system((ROOT / "system.toml").read_text(encoding="utf-8"),
                          tmp_path / "system.toml")
    contracts.accept(system, ["catalog"])
    public = tmp_path / "contracts" / "catalog" / "public.json"
    document = json.loads(public.read_text(encoding="utf-8"))
    document["paths"]["/api/catalog/gone"] = {"get": {"responses": {}}}
    public.write_text(json.dumps(document), encoding="utf-8")
    event = tmp_path / "contracts" / "events" / "catalog.book.created.v1.json"
    schema = json.loads(event.read_text(encoding="utf-8"))
    schema["properties"]["shelf"] = {"type": "string"}
    event.write_text(json.dumps(schema), encoding="utf-8")

    found = [str(item) for item in contracts.check(system)]

    assert found == [
        "catalog GET /api/catalog/gone: the route is gone (breaks gateway, orders)",
        "catalog.book.created.v1: field 'shelf' is gone (breaks inventory, orders)",
    ]


def test_the_repository_contracts_are_recorded_and_unbroken() -> None:
    system = load_system(ROOT / "system.toml")
    assert contracts.unrecorded(system) == []
    assert [str(item) for item in contracts.check(system)] == []


def test_accept_records_exactly_what_check_compares(tmp_path: Path) -> None:
    shutil.copy(ROOT / "system.toml", tmp_path / "system.toml")
    system = load_system(tmp_path / "system.toml")
    written = contracts.accept(system, ["reviews"])
    assert {path.relative_to(tmp_path).as_posix() for path in written} == {
        "contracts/reviews/public.json", "contracts/reviews/internal.json",
        "contracts/events/reviews.rating.changed.v1.json"}
    assert contracts.check(system) == []
