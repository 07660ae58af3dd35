"""What every answer of the public edge carries: security headers and a strict CORS policy.

CORS is off unless origins are listed (`GATEWAY_CORS_ORIGINS`): then only those
origins may call, without cookies (the API takes bearer tokens), with the headers
the API uses. The Content-Security-Policy forbids everything an API answer never
needs; pages (the storefront, the console, the API reference) may load scripts,
styles and images from this origin only, and post forms only to it: no inline
script, no third-party origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from gateway.settings import GatewaySettings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
PAGE_HEADERS = [(k, b"same-origin" if k == b"referrer-policy" else v)
                for k, v in SECURITY_HEADERS]
PAGE_PATHS = ("/api/reference",)
"""API paths that are pages; every path outside /api is one (the storefront, the console)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP answer."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        page = path in PAGE_PATHS or not (path == "/api" or path.startswith("/api/"))
        csp = PAGE_CSP if page else API_CSP
        # A page's form posts must say where they come from (the storefront refuses
        # others): a referrer within this origin, never beyond it.
        headers = PAGE_HEADERS if page else SECURITY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in headers if k not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", csp.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: GatewaySettings) -> None:
    """Wrap `app` (outermost: even refusals get the headers) in the edge's middleware."""
    app.add_middleware(SecurityHeaders)
    if settings.origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.origins, allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            expose_headers=["Location", "Retry-After", "X-Request-Id", "Idempotent-Replayed",
                            "ETag"],
            max_age=600)
