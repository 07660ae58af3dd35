"""What makes a change of an OpenAPI document or a JSON schema break its consumers.

A consumer *reads* responses and events: a field it reads must not disappear or change
type. A consumer *writes* requests (and an old publisher's events are still read by a
new consumer): a field it does not send must not become required. Everything else —
new routes, new optional fields, new response fields — is additive and passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
_MAX_DEPTH = 10


def openapi_breaks(old: dict[str, Any], new: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(`METHOD /path`, what breaks) for every breaking change from `old` to `new`."""
    for path, item in sorted(old.get("paths", {}).items()):
        for method in _METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            before, after = item[method], new.get("paths", {}).get(path, {}).get(method)
            if after is None:
                yield where, "the route is gone"
                continue
            yield from ((where, change) for change in _operation_breaks(before, after, old, new))


def _operation_breaks(before: dict[str, Any], after: dict[str, Any], old: dict[str, Any],
                      new: dict[str, Any]) -> Iterator[str]:
    known = {(p.get("in"), p.get("name")): p for p in before.get("parameters", [])}
    for parameter in after.get("parameters", []):
        earlier = known.get((parameter.get("in"), parameter.get("name")))
        if parameter.get("required") and not (earlier and earlier.get("required")):
            yield f"{parameter.get('in')} parameter {parameter.get('name')!r} is now required"
    body_before, body_after = _body(before.get("requestBody")), _body(after.get("requestBody"))
    if body_after is not None and body_before is None and after["requestBody"].get("required"):
        yield "a request body is now required"
    if body_before is not None and body_after is not None:
        yield from ("request " + change for change in schema_breaks(
            body_before, body_after, old, new, "", reading=False, writing=True))
    for status, answer in sorted(before.get("responses", {}).items()):
        if not str(status).startswith("2"):
            continue
        later = after.get("responses", {}).get(status)
        if later is None:
            yield f"response {status} is gone"
            continue
        schema_before, schema_after = _body(answer), _body(later)
        if schema_before is not None and schema_after is not None:
            yield from (f"response {status} {change}" for change in schema_breaks(
                schema_before, schema_after, old, new, "", reading=True, writing=False))


def schema_breaks(old: Any, new: Any, old_root: dict[str, Any], new_root: dict[str, Any],
                  where: str, *, reading: bool, writing: bool, depth: int = 0) -> list[str]:
    """The breaking differences of schema `new` from `old` (refs resolved in the roots).

    `reading`: consumers read values of this schema (removals and type changes break);
    `writing`: consumers write them (a newly required field breaks; so does a type change).
    """
    if depth > _MAX_DEPTH:
        return []
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    label = f"field {where.rstrip('.')!r}" if where else "the body"
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in old_types and old_types != new_types:
        return [f"{label} changed type from {'|'.join(sorted(old_types))} to "
                f"{'|'.join(sorted(new_types))}"]
    found: list[str] = []
    old_object, new_object = _object(old, old_root), _object(new, new_root)
    old_props, new_props = old_object.get("properties", {}), new_object.get("properties", {})
    if reading:
        found += [f"field {where + name!r} is gone" for name in old_props if name not in new_props]
    if writing:
        newly = set(new_object.get("required", [])) - set(old_object.get("required", []))
        found += [f"field {where + name!r} is now required" for name in sorted(newly)]
    for name in old_props:
        if name in new_props:
            found += schema_breaks(old_props[name], new_props[name], old_root, new_root,
                                   f"{where}{name}.", reading=reading, writing=writing,
                                   depth=depth + 1)
    old_items, new_items = _object(old, old_root).get("items"), _object(new, new_root).get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        found += schema_breaks(old_items, new_items, old_root, new_root, f"{where}[].",
                               reading=reading, writing=writing, depth=depth + 1)
    return found


def _body(part: dict[str, Any] | None) -> dict[str, Any] | None:
    if not part:
        return None
    content = part.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    schema = media.get("schema") if media else None
    return schema if isinstance(schema, dict) else None


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < _MAX_DEPTH:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema, seen = target, seen + 1
    return schema if isinstance(schema, dict) else {}


def _variants(schema: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [_resolve(item, root) for item in schema[key]]
    return [schema]


def _types(schema: dict[str, Any], root: dict[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for variant in _variants(schema, root):
        kind = variant.get("type")
        if isinstance(kind, list):
            found.update(kind)
        elif isinstance(kind, str):
            found.add(kind + (f":{variant['format']}" if "format" in variant else ""))
        elif "properties" in variant:
            found.add("object")
        elif "const" in variant or "enum" in variant:
            found.add("enum")
        elif variant is not schema and ("anyOf" in variant or "oneOf" in variant):
            found.update(_types(variant, root))
        else:
            found.add("any")
    return frozenset(found)


def _object(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The one non-null variant of a nullable schema, else the schema itself."""
    variants = [v for v in _variants(schema, root) if v.get("type") != "null"]
    return variants[0] if len(variants) == 1 else schema
