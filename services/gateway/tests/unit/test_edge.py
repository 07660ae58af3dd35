"""The edge's security headers and CORS policy, on a small app."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from gateway import edge
from gateway.settings import GatewaySettings
from msa.errors import ConfigError


def _client(settings: GatewaySettings) -> httpx.AsyncClient:
    app = FastAPI()

    @app.get("/api/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    edge.install(app, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


async def test_every_answer_carries_the_security_headers() -> None:
    async with _client(GatewaySettings()) as http:
        for path in ("/api/thing", "/missing"):
            answer = await http.get(path)
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == (
                "no-referrer" if path.startswith("/api/") else "same-origin")
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert (await http.get("/api/thing")).headers["content-security-policy"] == edge.API_CSP
        page_csp = (await http.get("/books")).headers["content-security-policy"]
        assert page_csp == edge.PAGE_CSP
        assert "unsafe-inline" not in page_csp and "http" not in page_csp  # no other origin


async def test_without_configured_origins_no_origin_is_allowed() -> None:
    async with _client(GatewaySettings()) as http:
        answer = await http.get("/api/thing", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers
        preflight = await http.options("/api/thing", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers


async def test_only_listed_origins_are_allowed_and_never_with_credentials() -> None:
    settings = GatewaySettings(cors_origins="https://shop.example, https://admin.example")
    async with _client(settings) as http:
        allowed = await http.options("/api/thing", headers={
            "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "access-control-allow-credentials" not in allowed.headers
        refused = await http.options("/api/thing", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("origins", ["*", "https://shop.example/", "shop.example",
                                     "https://*.example"])
def test_a_wildcard_or_malformed_origin_stops_the_gateway(origins: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import load_gateway_settings

    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", origins)
    with pytest.raises(ConfigError, match="GATEWAY_CORS_ORIGINS"):
        load_gateway_settings()
