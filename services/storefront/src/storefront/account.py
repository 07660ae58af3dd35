"""The customer's account: register, log in, log out, the wallet and notifications."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.web import SameOrigin, VisitDep, forget, remember

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never `//elsewhere` or a full URL) to return to."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/register", response_class=HTMLResponse)
async def register_form(visit: VisitDep) -> Response:
    return visit.render("register.html")


@router.post("/register", response_class=HTMLResponse, dependencies=[SameOrigin])
async def register(visit: VisitDep, email: Annotated[str, Form()] = "",
                   password: Annotated[str, Form()] = "",
                   key: Annotated[str, Form()] = "") -> Response:
    answer = await visit.api.call("POST", "/api/identity/register", key=key or None,
                                  json={"email": email, "password": password})
    if not answer.ok:
        errors = answer.field_errors or {"email": answer.detail}
        return visit.render("register.html", status=answer.status, errors=errors,
                            values={"email": email})
    return await _sign_in(visit, email, password, "/wallet")


@router.get("/login", response_class=HTMLResponse)
async def login_form(visit: VisitDep,
                     next: Annotated[str | None, Query(max_length=300)] = None) -> Response:
    return visit.render("login.html", values={"next": _safe_next(next)})


@router.post("/login", response_class=HTMLResponse, dependencies=[SameOrigin])
async def login(visit: VisitDep, email: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = "/") -> Response:
    return await _sign_in(visit, email, password, _safe_next(next))


async def _sign_in(visit: VisitDep, email: str, password: str, target: str) -> Response:
    answer = await visit.api.call("POST", "/api/identity/login",
                                  json={"email": email, "password": password})
    if not answer.ok:
        return visit.render("login.html", status=answer.status,
                            errors={"password": "That email and password do not match "
                                                "an account." if answer.status == 401
                                    else answer.detail},
                            values={"email": email, "next": target})
    response = RedirectResponse(target, status_code=303)
    remember(response, visit.request, answer.body["access_token"],
             int(answer.body.get("expires_in") or 900))
    return response


@router.post("/logout", dependencies=[SameOrigin])
async def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    forget(response)
    return response


async def _wallet_page(visit: VisitDep, status: int = 200, **context: object) -> Response:
    balance = await visit.api.get("/api/wallet")
    history = await visit.api.get("/api/wallet/transactions", limit=50)
    if not balance.ok:
        return visit.failed(balance, "Your wallet cannot be shown")
    return visit.render("wallet.html", status=status, balance=balance.body["balance_cents"],
                        history=history.body if history.ok else [], **context)


@router.get("/wallet", response_class=HTMLResponse)
async def wallet(visit: VisitDep) -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    return await _wallet_page(visit)


def parse_amount(text: str) -> int | None:
    """Cents from what a customer types ("20", "20.5", "20.50"), None if it is no amount."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


@router.post("/wallet/topups", response_class=HTMLResponse, dependencies=[SameOrigin])
async def top_up(visit: VisitDep, amount: Annotated[str, Form()] = "",
                 key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    cents = parse_amount(amount)
    if cents is None:
        error = "Type an amount such as 20 or 12.50."
    elif cents <= 0:
        error = "A top-up must be more than zero."
    else:
        answer = await visit.api.call("POST", "/api/wallet/topups", key=key or None,
                                      json={"amount_cents": cents})
        if answer.ok:
            return RedirectResponse("/wallet", status_code=303)
        error = answer.field_errors.get("amount_cents") or answer.detail
    return await _wallet_page(visit, status=422, errors={"amount": error},
                              values={"amount": amount})


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(visit: VisitDep) -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    found = await visit.api.get("/api/notifications", limit=50)
    if not found.ok:
        return visit.failed(found, "Your notifications cannot be shown")
    return visit.render("notifications.html", inbox=found.body)


@router.post("/notifications/{message_id}/read", dependencies=[SameOrigin])
async def mark_read(message_id: uuid.UUID, visit: VisitDep,
                    key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    answer = await visit.api.call("POST", f"/api/notifications/{message_id}/read",
                                  key=key or None)
    if not answer.ok:
        return visit.failed(answer, "The notification could not be marked as read")
    return RedirectResponse("/notifications", status_code=303)
