"""The gateway: the only public entry of the bookstore.

Every request passes the address rate limit, then (if it carries `Authorization`)
token verification and the user's rate limit (`visitor`), before it is answered
here (the book page) or forwarded to the service owning its path.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import storefront
from gateway import edge, openapi, pages, proxy, reference
from gateway.limits import RateLimits, TokenBuckets
from gateway.routing import RouteTable
from gateway.settings import GatewaySettings, load_gateway_settings
from identity.contracts import AUDIENCE, INTERNAL_JWKS_PATH, ISSUER, PASSWORD_PATHS
from msa import (
    ROUTE_LABEL,
    Claims,
    Colocation,
    NotFound,
    Runtime,
    ServiceDefinition,
    ServiceSettings,
    System,
    TokenVerifier,
    bearer_token,
    get_runtime,
)

router = APIRouter()
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def build(rt: Runtime) -> None:
    """Start-up: the route table, the token verifier and the rate limits, built once."""

    async def fetch_jwks() -> dict[str, Any]:
        jwks: dict[str, Any] = await rt.client("identity").get_json(INTERNAL_JWKS_PATH)
        return jwks

    if "settings" not in rt.state:
        rt.state["settings"] = load_gateway_settings()
    settings: GatewaySettings = rt.state["settings"]
    rt.state["routes"] = RouteTable(rt.system, rt.name)
    rt.state["verifier"] = TokenVerifier(fetch_jwks, issuer=ISSUER, audience=AUDIENCE)
    rt.state["limits"] = RateLimits(TokenBuckets(settings.user_rate, settings.user_burst),
                                    TokenBuckets(settings.ip_rate, settings.ip_burst),
                                    TokenBuckets(settings.login_rate, settings.login_burst))


async def visitor(request: Request, rt: RuntimeDep) -> Claims | None:
    """Who is asking: the address limit, then the verified user (if any) and their limit."""
    limits: RateLimits = rt.state["limits"]
    limits.check_address(request.client.host if request.client else "unknown")
    if "authorization" not in request.headers:
        return None
    verifier: TokenVerifier = rt.state["verifier"]
    claims = await verifier.verify(bearer_token(request.headers["authorization"]))
    limits.check_user(str(claims.user_id))
    return claims


Visitor = Annotated[Claims | None, Depends(visitor)]


@router.get("/api")
async def index(rt: RuntimeDep, _: Visitor) -> dict[str, Any]:
    """What the API is: the system and which service answers each path prefix."""
    routes: RouteTable = rt.state["routes"]
    return {"name": rt.system.system.name, "description": rt.system.system.description,
            "api": routes.prefixes, "openapi": "/api/openapi.json",
            "reference": "/api/reference"}


@router.get("/api/openapi.json", tags=["docs"])
async def public_openapi(request: Request, rt: RuntimeDep, _: Visitor) -> dict[str, Any]:
    """Every public route of every service in one OpenAPI document (no credential needed)."""
    return await openapi.public_document(rt, request.app.openapi())


@router.get("/api/reference", response_class=HTMLResponse, include_in_schema=False)
async def api_reference(request: Request, rt: RuntimeDep, _: Visitor) -> HTMLResponse:
    """The public API as a page: rendered here from the merged document, no script."""
    return reference.page(request, await openapi.public_document(rt, request.app.openapi()))


@router.get("/api/books/{book_id}/page", tags=["pages"])
async def book_page(book_id: uuid.UUID, rt: RuntimeDep, _: Visitor) -> dict[str, Any]:
    return await pages.book_page(rt, book_id)


@router.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def api(path: str, request: Request, rt: RuntimeDep, user: Visitor) -> Response:
    routes: RouteTable = rt.state["routes"]
    target = routes.target(raw_path(request))
    if target is None:
        raise NotFound(f"no API at {request.url.path}")
    request.scope[ROUTE_LABEL] = f"{target.prefix}/{{path}}"  # RED per forwarded prefix
    if request.method == "POST" and request.url.path in PASSWORD_PATHS:
        limits: RateLimits = rt.state["limits"]
        limits.check_login(request.client.host if request.client else "unknown")
    settings: GatewaySettings = rt.state["settings"]
    return await proxy.forward(rt, target, request, user, settings.max_body)


def raw_path(request: Request) -> str:
    """The path exactly as the client sent it (percent-encoded), below where we are mounted."""
    raw = request.scope.get("raw_path")
    if raw is None:  # a server that keeps only the decoded path: nothing to compare with
        return quote(request.scope["path"], safe="/:@!$&'()*+,;=-._~")
    path = bytes(raw).decode("latin-1")
    root = request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


service = ServiceDefinition("gateway", routers=[router], on_startup=[build],
                            title="bookstore gateway", public=True)


def create_app(settings: ServiceSettings | None = None, *, system: System | None = None,
               colocation: Colocation | None = None) -> FastAPI:
    """The gateway app, wrapped in the edge's security headers and CORS policy."""
    app = service.create_app(settings, system=system, colocation=colocation)
    gateway_settings = load_gateway_settings()
    app.state.runtime.state["settings"] = gateway_settings
    _replace_docs(app)
    storefront.mount(app)
    edge.install(app, gateway_settings)
    return app


def _replace_docs(app: FastAPI) -> None:
    """`/docs` shows our own reference (FastAPI's loads its viewer from a CDN)."""
    app.router.routes = [route for route in app.router.routes
                         if getattr(route, "path", None) not in ("/docs", "/docs/oauth2-redirect")]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> RedirectResponse:
        return RedirectResponse("/api/reference")
