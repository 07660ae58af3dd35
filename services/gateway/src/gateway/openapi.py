"""The public API in one OpenAPI document, merged from every service's own.

Each service documents itself (`/openapi.json`, readable by the operator and the
gateway only). The gateway keeps, per service, the paths under that service's public
`routes` in system.toml (never `/internal/...`), adds its own public routes, and
serves the result at `/api/openapi.json` to anyone: a client developer learns the
whole API without an operator credential. Schemas that two services name alike but
define differently are renamed `<Service><Name>` in the merged document.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from msa import Problem, Runtime, ServiceCallError, System

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
          "description": "An access token from POST /api/identity/login"}
_SCHEMA_REF = "#/components/schemas/"


def public_paths(system: System, service: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The paths of `service`'s document that the gateway forwards (its public routes)."""
    prefixes = [p.rstrip("/") for p in system.services[service].routes if p.rstrip("/")]
    return {path: item for path, item in document.get("paths", {}).items()
            if not path.startswith("/internal/")
            and any(path == p or path.startswith(p + "/") for p in prefixes)}


def merge(system: System, gateway_document: Mapping[str, Any],
          documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One OpenAPI 3.1 document: the gateway's public paths and each service's."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": f"{system.system.name} public API",
                 "version": gateway_document.get("info", {}).get("version", "0"),
                 "description": f"{system.system.description}. Every route the gateway "
                                "answers, by the service that owns it."},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {"user": BEARER}},
        "tags": [],
    }
    gateway = system.system.gateway
    sources = [(gateway, gateway_document), *((name, documents[name]) for name in system.services
                                              if name in documents and name != gateway)]
    for service, document in sources:
        renames = _add_schemas(merged["components"]["schemas"], service, document)
        paths = (_gateway_paths(document) if service == gateway
                 else public_paths(system, service, document))
        for path, item in paths.items():
            item = _renamed(copy.deepcopy(item), renames)
            for method in METHODS:
                if method in item:
                    item[method]["tags"] = [service]
            merged["paths"][path] = item
        if paths:
            merged["tags"].append({"name": service,
                                   "description": system.services[service].description})
    _drop_unused_schemas(merged)
    return merged


def _gateway_paths(document: Mapping[str, Any]) -> dict[str, Any]:
    return {path: item for path, item in document.get("paths", {}).items()
            if path == "/api" or path.startswith("/api/")}


def _add_schemas(schemas: dict[str, Any], service: str, document: Mapping[str, Any]
                 ) -> dict[str, str]:
    """Add `document`'s schemas to `schemas`; the names that had to change."""
    own = document.get("components", {}).get("schemas", {})
    renames = {name: f"{service.title()}{name}" for name, schema in own.items()
               if name in schemas and schemas[name] != _renamed(copy.deepcopy(schema), {})}
    for name, schema in own.items():
        new_name = renames.get(name, name)
        schemas[new_name] = _renamed(copy.deepcopy(schema), renames)
    return renames


def _renamed(node: Any, renames: Mapping[str, str]) -> Any:
    """`node` with `$ref`s to renamed schemas pointing at their new names."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF):
                name = value[len(_SCHEMA_REF):]
                node[key] = _SCHEMA_REF + renames.get(name, name)
            else:
                node[key] = _renamed(value, renames)
    elif isinstance(node, list):
        return [_renamed(item, renames) for item in node]
    return node


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Schemas only internal routes used are not part of the public API."""
    schemas = document["components"]["schemas"]
    used: set[str] = set()
    todo = [document["paths"]]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_SCHEMA_REF):
                name = ref[len(_SCHEMA_REF):]
                if name not in used and name in schemas:
                    used.add(name)
                    todo.append(schemas[name])
            todo.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            todo.extend(node)
    document["components"]["schemas"] = {k: v for k, v in sorted(schemas.items()) if k in used}


async def public_document(rt: Runtime, gateway_document: Mapping[str, Any]) -> dict[str, Any]:
    """The merged document, built on first use from every service's own (then kept)."""
    cached: dict[str, Any] | None = rt.state.get("public_openapi")
    if cached is not None:
        return cached
    names = [name for name in rt.system.services if name != rt.name]

    async def fetch(name: str) -> dict[str, Any]:
        document: dict[str, Any] = await rt.client(name).get_json("/openapi.json", timeout=5.0)
        return document

    try:
        fetched = await asyncio.gather(*(fetch(name) for name in names))
    except ServiceCallError as exc:
        raise Problem(f"a service could not describe its API ({exc}); try again",
                      status=503, title="Service unavailable") from None
    merged = merge(rt.system, gateway_document, dict(zip(names, fetched, strict=True)))
    rt.state["public_openapi"] = merged
    return merged
