"""The service guard: who may call a service, and whose user headers it believes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request

from msa.principal import CurrentUser
from msa.service import ServiceDefinition
from msa.service_guard import OperatorOnly
from msa.settings import ServiceSettings
from msa.system import parse_system
from msa.tools.apptest import caller_auth, run_app

SYSTEM = parse_system("""
[system]
name = "guarded"
gateway = "edge"
[teams.t]
[services.edge]
team = "t"
app = "x:y"
port = 20100
database = false
calls = ["vault", "keys"]
[services.edge.edges.keys]
paths = ["/internal/keys/jwks"]
[services.vault]
team = "t"
app = "x:y"
port = 20101
database = false
routes = ["/api/vault"]
[services.keys]
team = "t"
app = "x:y"
port = 20104
database = false
routes = ["/api/keys"]
[services.helper]
team = "t"
app = "x:y"
port = 20102
database = false
calls = ["vault", "keys"]
[services.helper.edges.keys]
paths = ["/internal/keys/jwks", "/internal/keys/rotate"]
[services.other]
team = "t"
app = "x:y"
port = 20103
database = false
""")

router = APIRouter()


@router.get("/api/vault/whoami")
async def whoami(request: Request) -> dict[str, Any]:
    return {"user": request.headers.get("x-user-id"), "caller": request.scope.get("msa.caller")}


@router.get("/api/vault/mine")
async def mine(user: CurrentUser) -> dict[str, str]:
    return {"user": str(user.user_id)}


@router.get("/internal/vault/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}


@router.post("/internal/vault/ops", dependencies=[OperatorOnly])
async def operate() -> dict[str, bool]:
    return {"done": True}


@router.get("/internal/keys/jwks")
@router.get("/internal/keys/jwks-extra")
@router.post("/internal/keys/rotate")
@router.get("/internal/keys/audit")
@router.get("/api/keys/public")
async def keys_route(request: Request) -> dict[str, str]:
    return {"path": request.url.path}


def _app(name: str, data_dir: Path, *, public: bool = False) -> Any:
    settings = ServiceSettings(service=name, env="test", data_dir=str(data_dir))
    return ServiceDefinition(name, routers=[router], public=public).create_app(settings,
                                                                              system=SYSTEM)


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with run_app(_app("vault", tmp_path), base_url="http://vault", anonymous=True) as http:
        yield http


def as_(http: httpx.AsyncClient, caller: str) -> httpx.Auth | None:
    return caller_auth(http.app, caller)  # type: ignore[attr-defined]


USER = {"X-User-Id": "7d0e3b1c-5a66-4c4e-9a55-1d1c2f8a9b10", "X-User-Role": "admin"}


async def test_without_a_service_token_only_health_and_metrics_answer(
        vault: httpx.AsyncClient) -> None:
    for path in ("/api/vault/whoami", "/internal/vault/ping", "/openapi.json", "/docs",
                 "/no/such/route"):
        answer = await vault.get(path, headers=USER)
        assert answer.status_code == 401, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert "X-Service-Token" in answer.json()["detail"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await vault.get(path)).status_code == 200, path


async def test_the_gateway_passes_users_on(vault: httpx.AsyncClient) -> None:
    answer = await vault.get("/api/vault/whoami", headers=USER, auth=as_(vault, "edge"))
    assert answer.json() == {"user": USER["X-User-Id"], "caller": "edge"}
    mine = await vault.get("/api/vault/mine", headers=USER, auth=as_(vault, "edge"))
    assert mine.json() == {"user": USER["X-User-Id"]}


async def test_another_declared_caller_cannot_pose_as_a_user(vault: httpx.AsyncClient) -> None:
    answer = await vault.get("/api/vault/whoami", headers=USER, auth=as_(vault, "helper"))
    assert answer.json() == {"user": None, "caller": "helper"}
    mine = await vault.get("/api/vault/mine", headers=USER, auth=as_(vault, "helper"))
    assert mine.status_code == 401


async def test_an_undeclared_caller_is_forbidden(vault: httpx.AsyncClient) -> None:
    answer = await vault.get("/internal/vault/ping", auth=as_(vault, "other"))
    assert answer.status_code == 403
    assert "system.toml" in answer.json()["detail"]


async def test_the_operator_reaches_internal_routes_only(vault: httpx.AsyncClient) -> None:
    operator = as_(vault, "operator")
    assert (await vault.get("/internal/vault/ping", auth=operator)).status_code == 200
    assert (await vault.get("/openapi.json", auth=operator)).status_code == 200
    assert (await vault.get("/api/vault/whoami", auth=operator)).status_code == 403
    assert (await vault.post("/internal/vault/ops", auth=operator)).status_code == 200
    assert (await vault.post("/internal/vault/ops", auth=as_(vault, "edge"))).status_code == 403


async def test_the_public_edge_guards_its_internal_routes_only(tmp_path: Path) -> None:
    async with run_app(_app("edge", tmp_path, public=True), anonymous=True) as edge:
        assert (await edge.get("/api/vault/whoami")).status_code == 200
        assert (await edge.get("/internal/vault/ping")).status_code == 401
        operator = as_(edge, "operator")
        assert (await edge.get("/internal/vault/ping", auth=operator)).status_code == 200


async def test_the_gateway_may_call_public_routes_and_read_the_api_document_only(
        vault: httpx.AsyncClient) -> None:
    edge = as_(vault, "edge")
    assert (await vault.get("/api/vault/whoami", auth=edge)).status_code == 200
    for path in ("/internal/vault/ping", "/internal/traces", "/docs"):
        answer = await vault.get(path, auth=edge)
        assert answer.status_code == 403, path
        assert "edges.vault.paths" in answer.json()["detail"]
    # it merges every service's document into the public one (public routes only)
    assert (await vault.get("/openapi.json", auth=edge)).status_code == 200
    assert (await vault.get("/internal/vault/ping", auth=as_(vault, "helper"))).status_code == 200


async def test_an_edge_lists_exactly_the_internal_paths_its_caller_may_call(
        tmp_path: Path) -> None:
    async with run_app(_app("keys", tmp_path), base_url="http://keys", anonymous=True) as keys:
        edge, helper = as_(keys, "edge"), as_(keys, "helper")
        assert (await keys.get("/internal/keys/jwks", auth=edge)).status_code == 200
        assert (await keys.get("/api/keys/public", auth=edge)).status_code == 200
        for method, path in [("GET", "/internal/keys/jwks-extra"), ("GET", "/internal/keys/audit"),
                             ("POST", "/internal/keys/rotate")]:
            assert (await keys.request(method, path, auth=edge)).status_code == 403, path
        assert (await keys.post("/internal/keys/rotate", auth=helper)).status_code == 200
        assert (await keys.get("/internal/keys/audit", auth=helper)).status_code == 403
        operator = as_(keys, "operator")
        assert (await keys.get("/internal/keys/audit", auth=operator)).status_code == 200


@pytest.mark.parametrize("path", ["/api/vault/../../internal/vault/ping",
                                  "/api/vault/./whoami", "/api/vault//whoami",
                                  "/api/vault\\..\\internal"])
async def test_a_path_a_server_could_rewrite_is_refused_to_every_caller(
        vault: httpx.AsyncClient, path: str) -> None:
    for caller in ("edge", "helper", "operator"):
        assert await _status_of_raw_get(vault, path, caller) == 403, (caller, path)


async def _status_of_raw_get(http: httpx.AsyncClient, path: str, caller: str) -> int:
    """GET `path` from the app exactly as given (httpx would collapse the dot segments)."""
    app = http.app  # type: ignore[attr-defined]
    auth = as_(http, caller)
    assert auth is not None
    signed = next(auth.auth_flow(httpx.Request("GET", "http://vault/")))
    headers = [(b"x-service-token", signed.headers["x-service-token"].encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "server": ("vault", 80),
             "client": ("127.0.0.1", 1)}
    started: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)

    await app(scope, receive, send)
    return int(started["status"])
