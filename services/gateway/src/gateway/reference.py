"""The API reference page: the merged OpenAPI document rendered on the server.

No viewer script and nothing from another origin: it works offline and under the
pages' Content-Security-Policy. Operations are grouped by the service that owns
them; each shows its parameters, body, answers and whether it needs a user or an
administrator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from gateway.openapi import METHODS

_TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
_REF = "#/components/schemas/"


def schema_name(schema: Any) -> str:
    """A short description of a schema: its name, type, or the union of them."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(_REF)
    if "anyOf" in schema:
        return " | ".join(schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {schema_name(schema.get('items', {}))}"
    return str(schema.get("type") or schema.get("title") or "any")


def _answer_schema(response: dict[str, Any]) -> str:
    content: dict[str, Any] = response.get("content") or {}
    for media in content.values():
        return schema_name(media.get("schema"))
    return ""


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """tag (service) → its operations, in document order, ready for the template."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            security = op.get("security") or []
            scopes = {scope for requirement in security for scopes in requirement.values()
                      for scope in scopes}
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
            groups.setdefault((op.get("tags") or ["other"])[0], []).append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "access": "administrator" if "admin" in scopes else
                          "signed-in user" if security else "anyone",
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required"),
                                "type": schema_name(p.get("schema")),
                                "description": p.get("description", "")}
                               for p in op.get("parameters", [])],
                "body": schema_name(body.get("schema")) if body else "",
                "responses": [(code, r.get("description", ""), _answer_schema(r))
                              for code, r in op.get("responses", {}).items()],
            })
    return [{"name": tag["name"], "description": tag.get("description", ""),
             "operations": groups.get(tag["name"], [])} for tag in document.get("tags", [])]


def page(request: Request, document: dict[str, Any]) -> HTMLResponse:
    """The reference page for `document`."""
    schemas = document.get("components", {}).get("schemas", {})
    return _TEMPLATES.TemplateResponse(request, "reference.html", {
        "info": document["info"], "groups": operations(document),
        "schemas": [{"name": name, "fields": [
            (field, schema_name(spec), field in schema.get("required", []))
            for field, spec in schema.get("properties", {}).items()]}
            for name, schema in schemas.items()]})
