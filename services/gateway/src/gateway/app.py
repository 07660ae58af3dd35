"""The gateway: the only public entry of the bookstore."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway import pages, proxy
from gateway.routing import RouteTable
from identity.contracts import AUDIENCE, ISSUER
from msa.auth import TokenVerifier
from msa.problems import NotFound
from msa.service import Runtime, ServiceDefinition, get_runtime

router = APIRouter()
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def build(rt: Runtime) -> None:
    """Start-up: the route table and the token verifier, built once."""

    async def fetch_jwks() -> dict[str, Any]:
        jwks: dict[str, Any] = await rt.client("identity").get_json("/internal/identity/jwks")
        return jwks

    rt.state["routes"] = RouteTable(rt.system, rt.name)
    rt.state["verifier"] = TokenVerifier(fetch_jwks, issuer=ISSUER, audience=AUDIENCE)


def _state(rt: Runtime) -> tuple[RouteTable, TokenVerifier]:
    return rt.state["routes"], rt.state["verifier"]


@router.get("/")
async def index(rt: RuntimeDep) -> dict[str, Any]:
    routes, _ = _state(rt)
    return {"name": rt.system.system.name, "description": rt.system.system.description,
            "api": routes.prefixes}


@router.get("/api/books/{book_id}/page", tags=["pages"])
async def book_page(book_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    return await pages.book_page(rt, book_id)


@router.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def api(path: str, request: Request, rt: RuntimeDep) -> Response:
    routes, verifier = _state(rt)
    service = routes.service_for(request.url.path)
    if service is None:
        raise NotFound(f"no API at {request.url.path}")
    return await proxy.forward(rt, verifier, service, request)


service = ServiceDefinition("gateway", routers=[router], on_startup=[build],
                            title="bookstore gateway")
create_app = service.create_app
