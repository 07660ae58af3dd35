"""What every page shares: templates, the session cookie, the API client, the guards.

The session is the customer's access token in an HttpOnly, SameSite=Strict cookie
(no script can read it, no other site can send it). Form posts must also come from
our own origin. The token's role is read (unverified) only to choose which links to
show: every action is still authorised by the API.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from msa import Forbidden
from storefront.shop_api import Answer, ShopApi

HERE = Path(__file__).parent
TOKEN_COOKIE = "shop_token"
PAGE_SIZE = 12
TEMPLATES = Jinja2Templates(directory=HERE / "templates")


def _money(cents: Any, currency: str = "EUR") -> str:
    if cents is None:
        return "—"
    value = int(cents)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d} {currency}"


def _when(value: Any) -> str:
    text = str(value or "")
    return text[:19].replace("T", " ")


def _clock(value: Any) -> str:
    """A timestamp to the millisecond (for the console's step histories)."""
    text = str(value or "").replace("T", " ")
    return text[:23]


TEMPLATES.env.filters["money"] = _money
TEMPLATES.env.filters["clock"] = _clock
TEMPLATES.env.filters["when"] = _when


def token_claims(token: str | None) -> dict[str, Any]:
    """The token's claims, unverified: only to choose links (the API verifies)."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


class Visit:
    """One page request: who asks (by their cookie) and the API on their behalf."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.token = request.cookies.get(TOKEN_COOKIE)
        self.claims = token_claims(self.token)
        self.api = ShopApi(request, self.token)

    @property
    def signed_in(self) -> bool:
        return bool(self.claims)

    @property
    def is_admin(self) -> bool:
        return self.claims.get("role") == "admin"

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The page `template` with the visitor, a fresh idempotency key for its forms."""
        return TEMPLATES.TemplateResponse(self.request, template, {
            "visit": self, "form_key": uuid.uuid4().hex, "errors": {}, "values": {},
            **context}, status_code=status)

    def sign_in_first(self) -> RedirectResponse:
        """To the login page, coming back here after."""
        return RedirectResponse(f"/login?next={self.request.url.path}", status_code=303)

    def failed(self, answer: Answer, what: str) -> Response:
        """A page saying what could not be done and why; the login page when the
        session has expired (the API no longer accepts its token)."""
        if answer.status == 401 and self.token:
            response = self.sign_in_first()
            forget(response)
            return response
        status = answer.status if answer.status >= 400 else 502
        return self.render("problem.html", status=status, what=what, detail=answer.detail)


async def visit(request: Request) -> AsyncIterator[Visit]:
    """FastAPI dependency: the visit, its API client closed afterwards."""
    current = Visit(request)
    try:
        yield current
    finally:
        await current.api.aclose()


async def same_origin(request: Request) -> None:
    """Form posts only from our own pages (with the SameSite cookie, against CSRF)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise Forbidden("forms are accepted from this site's own pages only")


VisitDep = Annotated[Visit, Depends(visit)]
SameOrigin = Depends(same_origin)


def remember(response: Response, request: Request, token: str, seconds: int) -> None:
    """Keep the access token in the session cookie."""
    response.set_cookie(TOKEN_COOKIE, token, max_age=seconds, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def forget(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")


def mount(app: FastAPI) -> None:
    """Serve the pages and their static files from `app` (the gateway)."""
    from storefront import account, admin, basket, shop
    from storefront.console import pages as console

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (shop, basket, account, admin, console):
        app.include_router(module.router, include_in_schema=False)
