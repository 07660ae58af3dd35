"""The public API as the pages use it: through the gateway, as the signed-in customer.

Requests go to the gateway app in-process (ASGI, no socket), through the whole edge:
rate limits by the browser's address, token verification, routing, the services'
own authorisation. Nothing here trusts the cookie: the token in it is sent on as a
bearer token, and the API decides.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request

CALL_TIMEOUT = 15.0


@dataclass
class Answer:
    """One API answer: its status and its JSON body (a problem body on failure)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def detail(self) -> str:
        """What went wrong, in one line (the problem body's `detail`)."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.status)
        return f"the store answered {self.status}"

    @property
    def field_errors(self) -> dict[str, str]:
        """Field name → message, from a validation problem's `errors`."""
        found: dict[str, str] = {}
        if isinstance(self.body, dict):
            for error in self.body.get("errors") or []:
                loc = error.get("loc") or []
                if loc:
                    found.setdefault(str(loc[-1]), str(error.get("msg", "invalid")))
        return found


@dataclass
class ShopApi:
    """Calls the gateway's public API for one page request."""

    request: Request
    token: str | None
    _http: httpx.AsyncClient | None = field(default=None, init=False)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            peer = self.request.client
            transport = httpx.ASGITransport(
                app=self.request.app,
                client=(peer.host, peer.port) if peer else ("127.0.0.1", 0))
            self._http = httpx.AsyncClient(transport=transport, base_url="http://gateway",
                                           timeout=CALL_TIMEOUT)
        return self._http

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None, key: str | None = None) -> Answer:
        """Send one request; a change gets `key` (or a fresh one) as its Idempotency-Key."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        response = await self._client().request(method, path, json=json, params=params,
                                                headers=headers)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, params={k: v for k, v in params.items()
                                                    if v is not None} or None)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
