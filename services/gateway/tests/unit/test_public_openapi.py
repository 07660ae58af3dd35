"""The merged public OpenAPI document: valid, complete, and nothing internal in it."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import SecretStr

from gateway.openapi import METHODS, merge, public_paths
from gateway.reference import operations
from msa.settings import ServiceSettings
from msa.system import System, load_system


def _document(system: System, name: str) -> dict[str, Any]:
    """A service's own OpenAPI document, from its app (built, not started)."""
    spec = system.services[name]
    module, factory = spec.app.split(":")
    url = SecretStr("postgresql://doc:not-a-real-password@127.0.0.1:1/doc") if spec.database \
        else None
    settings = ServiceSettings(service=name, database_url=url)
    app = getattr(importlib.import_module(module), factory)(settings, system=system)
    document: dict[str, Any] = app.openapi()
    return document


@pytest.fixture(scope="module")
def documents() -> tuple[System, dict[str, dict[str, Any]]]:
    system = load_system()
    return system, {name: _document(system, name) for name in system.services}


@pytest.fixture(scope="module")
def merged(documents: tuple[System, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    system, docs = documents
    gateway = system.system.gateway
    return merge(system, docs[gateway], {k: v for k, v in docs.items() if k != gateway})


def test_the_merged_document_is_valid_openapi(merged: dict[str, Any]) -> None:
    validate(merged)


def test_it_lists_every_public_route_of_every_service_and_no_internal_one(
        documents: tuple[System, dict[str, dict[str, Any]]], merged: dict[str, Any]) -> None:
    system, docs = documents
    expected = set()
    for name, document in docs.items():
        if name == system.system.gateway:
            continue
        public = public_paths(system, name, document)
        assert public, f"{name} documents no public route"
        expected |= {(m, path) for path, item in public.items() for m in METHODS if m in item}
    listed = {(m, path) for path, item in merged["paths"].items() for m in METHODS if m in item}
    assert expected <= listed, sorted(expected - listed)
    assert ("get", "/api/books/{book_id}/page") in listed  # the gateway's own
    assert ("post", "/api/orders/checkout") in listed
    assert not [path for path in merged["paths"] if "/internal/" in path]
    assert {tag["name"] for tag in merged["tags"]} >= {"catalog", "orders", "wallet"}


def test_a_schema_two_services_define_differently_is_renamed_not_lost() -> None:
    system = load_system()
    one = {"paths": {"/api/catalog/x": {"get": {"responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/Item"}}}}}}}},
        "components": {"schemas": {"Item": {"type": "object", "properties": {
            "a": {"type": "string"}}}}}}
    two = {"paths": {"/api/wallet/y": {"get": {"responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/Item"}}}}}}}},
        "components": {"schemas": {"Item": {"type": "object", "properties": {
            "b": {"type": "integer"}}}}}}
    merged = merge(system, {"paths": {}}, {"catalog": one, "wallet": two})
    validate(merged)
    assert set(merged["components"]["schemas"]) == {"Item", "WalletItem"}
    wallet_ref = merged["paths"]["/api/wallet/y"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"]
    assert wallet_ref == "#/components/schemas/WalletItem"


def test_the_reference_shows_every_operation_with_who_may_call_it(
        merged: dict[str, Any]) -> None:
    groups = {group["name"]: group["operations"] for group in operations(merged)}
    checkout = next(op for op in groups["orders"] if op["path"] == "/api/orders/checkout")
    assert checkout["method"] == "POST" and checkout["access"] == "signed-in user"
    restock = next(op for op in groups["inventory"] if "restock" in op["path"])
    assert restock["access"] == "administrator"
    assert sum(len(ops) for ops in groups.values()) == sum(
        1 for item in merged["paths"].values() for m in METHODS if m in item)
