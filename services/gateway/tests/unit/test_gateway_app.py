"""The gateway app in-process, with one service behind it: what passes, what never does.

Requests are handed to the app as an ASGI server would after reading them off the
socket (`path` decoded, `raw_path` as sent), so no client library tidies them first.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import APIRouter, FastAPI, Request

from gateway.app import create_app
from msa.runtime import Colocation
from msa.service import ServiceDefinition
from msa.settings import ServiceSettings
from msa.system import parse_system

SYSTEM = parse_system("""
[system]
name = "shop"
gateway = "gateway"
[teams.t]
[services.gateway]
team = "t"
app = "gateway.app:create_app"
port = 20300
database = false
routes = ["/api", "/"]
calls = ["wallet", "identity"]
[services.identity]
team = "t"
app = "x:y"
port = 20302
database = false
routes = ["/api/identity"]
[services.wallet]
team = "t"
app = "x:y"
port = 20301
database = false
routes = ["/api/wallet"]
""")

TRAVERSALS = [
    "/api/wallet/../../internal/wallet/audit", "/api/wallet/%2e%2e/%2e%2e/internal/wallet/audit",
    "/api/wallet/%2E%2e/%2e%2E/internal/wallet/audit", "/api/wallet/.%2e/x", "/api/wallet/./x",
    "/api/wallet/%252e%252e/%252e%252e/internal/wallet/audit", "/api/wallet/..%2f..%2finternal",
    "/api/wallet/..%5C..%5Cinternal", "/api/wallet\\..\\..\\internal", "/api/wallet//audit",
    "/api/wallet/%2e%2e/%2e%2e/internal/wallet/debits/r-1/refund",
]
reached: list[str] = []
wallet_api = APIRouter()


@wallet_api.api_route("/{path:path}", methods=["GET", "POST"])
async def anything(path: str, request: Request) -> dict[str, str]:
    reached.append(request.scope["path"])
    return {"secret": "wallet data"}


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The gateway with the wallet colocated (its calls go in-process)."""
    colocation = Colocation()
    settings = {"env": "test", "data_dir": str(tmp_path)}
    wallet = ServiceDefinition("wallet", routers=[wallet_api]).create_app(
        ServiceSettings(service="wallet", **settings), system=SYSTEM, colocation=colocation)
    colocation.apps["wallet"] = wallet
    identity = ServiceDefinition("identity", routers=[wallet_api]).create_app(
        ServiceSettings(service="identity", **settings), system=SYSTEM, colocation=colocation)
    colocation.apps["identity"] = identity
    edge = create_app(ServiceSettings(service="gateway", **settings), system=SYSTEM,
                      colocation=colocation)
    reached.clear()
    async with wallet.router.lifespan_context(wallet), \
            identity.router.lifespan_context(identity), edge.router.lifespan_context(edge):
        yield edge


async def send(app: FastAPI, raw_path: str, *, method: str = "GET",
               client: str = "203.0.113.7") -> tuple[int, dict[str, str], Any]:
    """One request as a server hands it over: (status, headers, JSON body)."""
    raw = raw_path.encode("latin-1")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": unquote(raw_path), "raw_path": raw,
             "query_string": b"", "root_path": "", "server": ("shop", 80),
             "client": (client, 40000), "headers": [(b"host", b"shop")]}
    start: dict[str, Any] = {}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def reply(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body.extend(message.get("body", b""))

    await app(scope, receive, reply)
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body) if body else None


async def test_a_plain_public_path_is_forwarded(tmp_path: Path) -> None:
    async with gateway(tmp_path) as app:
        status, _, body = await send(app, "/api/wallet/topups")
    assert (status, body) == (200, {"secret": "wallet data"})
    assert reached == ["/api/wallet/topups"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_path_that_could_be_read_as_another_is_a_404_and_reaches_nothing(
        tmp_path: Path, method: str) -> None:
    async with gateway(tmp_path) as app:
        for path in TRAVERSALS:
            status, headers, body = await send(app, path, method=method)
            assert status == 404, path
            assert headers["content-type"] == "application/problem+json", path
            assert body["status"] == 404 and body["title"], path
    assert reached == []


async def test_an_address_over_its_limit_gets_429_and_others_are_unaffected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_IP_RATE", "0.25")
    monkeypatch.setenv("GATEWAY_IP_BURST", "3")
    async with gateway(tmp_path) as app:
        greedy = [await send(app, "/api/wallet", client="198.51.100.1") for _ in range(4)]
        assert [status for status, _, _ in greedy] == [200, 200, 200, 429]
        _, headers, body = greedy[-1]
        assert headers["content-type"] == "application/problem+json"
        assert body["status"] == 429 and "address" in body["detail"]
        assert 1 <= int(headers["retry-after"]) <= 4
        assert (await send(app, "/api/wallet", client="198.51.100.2"))[0] == 200
        assert (await send(app, "/api", client="198.51.100.1"))[0] == 429
    assert len(reached) == 4


async def test_sign_ins_from_one_address_have_a_far_lower_limit_than_other_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_LOGIN_RATE", "0.1")
    monkeypatch.setenv("GATEWAY_LOGIN_BURST", "3")
    async with gateway(tmp_path) as app:
        flood = [await send(app, "/api/identity/login", method="POST", client="198.51.100.9")
                 for _ in range(5)]
        assert [status for status, _, _ in flood] == [200, 200, 200, 429, 429]
        assert int(flood[-1][1]["retry-after"]) >= 1
        assert (await send(app, "/api/identity/register", method="POST",
                           client="198.51.100.9"))[0] == 429  # registering hashes too
        assert (await send(app, "/api/wallet", client="198.51.100.9"))[0] == 200  # other routes
        assert (await send(app, "/api/identity/login", method="POST",
                           client="198.51.100.10"))[0] == 200  # another address
    assert reached.count("/api/identity/login") == 4
