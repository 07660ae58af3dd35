"""The bookstore's API surface, read from each service's own OpenAPI document.

Security tests enumerate operations from here rather than from a list kept by hand,
so a new route cannot escape them. A service's document says which operations need
a signed-in user (`security: [{"user": []}]`) and which an administrator
(`[{"user": ["admin"]}]`); see `msa.principal`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.shop import Bookstore

METHODS = ("get", "post", "put", "patch", "delete")
_documents: dict[int, dict[str, dict[str, Any]]] = {}


@dataclass(frozen=True)
class Operation:
    """One method on one path of one service."""

    service: str
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.service})"

    @property
    def needs_user(self) -> bool:
        return bool(self.spec.get("security"))

    @property
    def needs_admin(self) -> bool:
        return any("admin" in scopes for requirement in self.spec.get("security", [])
                   for scopes in requirement.values())

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema: dict[str, Any] | None = content.get("application/json", {}).get("schema")
        return schema

    def url(self, ids: Mapping[str, str] | None = None) -> str:
        """The path with its parameters filled from `ids` (a fresh UUID where none is given)."""
        return re.sub(r"{(\w+)}", lambda m: (ids or {}).get(m.group(1), str(uuid.uuid4())),
                      self.path)


async def documents(bookstore: Bookstore) -> dict[str, dict[str, Any]]:
    """service → its OpenAPI document, fetched once per bookstore (as the operator)."""
    if id(bookstore) not in _documents:
        system = bookstore.runner.system
        _documents[id(bookstore)] = {
            name: await bookstore.access.get(name, "/openapi.json")
            for name in system.services if name != system.system.gateway}
    return _documents[id(bookstore)]


async def operations(bookstore: Bookstore, *, public: bool = True) -> list[Operation]:
    """Every documented operation; with `public`, only those the gateway forwards."""
    system = bookstore.runner.system
    found = []
    for service, document in (await documents(bookstore)).items():
        prefixes = tuple(p.rstrip("/") + "/" for p in system.services[service].routes)
        for path, item in document["paths"].items():
            if public and not (path + "/").startswith(prefixes):
                continue
            found += [Operation(service, method.upper(), path, item[method])
                      for method in METHODS if method in item]
    assert found, "no operations found: are the OpenAPI documents served?"
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a top-level `$ref` into the document's components followed."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def example(document: dict[str, Any], schema: dict[str, Any],
            ids: Mapping[str, str] | None = None, name: str = "") -> Any:
    """A small value `schema` accepts: required properties only, ids from `ids` by name."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        return example(document, schema["anyOf"][0], ids, name)
    kind = schema.get("type")
    if kind == "object":
        return {prop: example(document, schema["properties"][prop], ids, prop)
                for prop in schema.get("required", [])}
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(int(low), 1) if schema.get("maximum", 2) >= 1 else int(low)
    if kind == "string":
        if schema.get("format") == "uuid":
            return (ids or {}).get(name, str(uuid.uuid4()))
        return "x" * max(1, int(schema.get("minLength", 1)))
    return {"boolean": True, "array": [], "number": 1}.get(str(kind))
