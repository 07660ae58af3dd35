"""Buying: the cart, checkout, and the customer's orders with their saga's steps.

Checkout sends the cart as the page showed it: if the cart changed since (another
tab, another device), nothing is ordered and the page says so. An order still being
processed is polled (HTMX) until it is CONFIRMED or CANCELLED.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.web import SameOrigin, Visit, VisitDep

router = APIRouter()
SETTLED = ("CONFIRMED", "CANCELLED")


def cart_digest(items: list[dict[str, Any]]) -> str:
    """The cart's content as one string, to tell whether it changed since it was shown."""
    return ",".join(f"{item['book_id']}:{item['quantity']}"
                    for item in sorted(items, key=lambda item: str(item["book_id"])))


async def _cart_lines(visit: Visit) -> tuple[list[dict[str, Any]], str] | None:
    cart = await visit.api.get("/api/orders/cart")
    if not cart.ok:
        return None
    items = cart.body["items"]
    lines = []
    for item in items:
        book = await visit.api.get(f"/api/catalog/books/{item['book_id']}")
        lines.append({**item, "book": book.body if book.ok else None})
    return lines, cart_digest(items)


async def _cart_page(visit: Visit, status: int = 200, **context: Any) -> Response:
    found = await _cart_lines(visit)
    if found is None:
        return visit.render("problem.html", status=503, what="Your cart cannot be shown",
                            detail="The orders service did not answer; try again.")
    lines, digest = found
    total = sum((line["book"] or {}).get("price_cents", 0) * line["quantity"] for line in lines)
    return visit.render("cart.html", status=status, lines=lines, digest=digest, total=total,
                        **context)


@router.get("/cart", response_class=HTMLResponse)
async def cart(visit: VisitDep) -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    return await _cart_page(visit)


def _quantity_error(quantity: str) -> str | None:
    if not quantity.strip().isdigit() or int(quantity) < 1:
        return "Choose a quantity of at least 1."
    return None


@router.post("/cart/items", response_class=HTMLResponse, dependencies=[SameOrigin])
async def add_to_cart(visit: VisitDep, book_id: Annotated[uuid.UUID, Form()],
                      quantity: Annotated[str, Form()] = "1",
                      key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    error = _quantity_error(quantity)
    if error is None:
        answer = await visit.api.call("POST", "/api/orders/cart/items", key=key or None,
                                      json={"book_id": str(book_id), "quantity": int(quantity)})
        if answer.ok:
            return RedirectResponse("/cart", status_code=303)
        error = answer.field_errors.get("quantity") or answer.detail
    from storefront.shop import book

    page = await book(book_id, visit)
    return _with_error(visit, page, book_id, quantity, error)


def _with_error(visit: Visit, page: Response, book_id: uuid.UUID, quantity: str,
                error: str) -> Response:
    context = getattr(page, "context", {})
    if "book" not in context:
        return page
    return visit.render("book.html", status=422, errors={"quantity": error},
                        values={"quantity": quantity},
                        **{k: context[k] for k in ("book", "stock", "reviews")})


@router.post("/cart/items/{book_id}", response_class=HTMLResponse, dependencies=[SameOrigin])
async def change_quantity(book_id: uuid.UUID, visit: VisitDep,
                          quantity: Annotated[str, Form()] = "",
                          remove: Annotated[str | None, Form()] = None,
                          key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    if remove is not None:
        answer = await visit.api.call("DELETE", f"/api/orders/cart/items/{book_id}",
                                      key=key or None)
    else:
        error = _quantity_error(quantity)
        if error:
            return await _cart_page(visit, status=422, errors={f"quantity-{book_id}": error},
                                    values={f"quantity-{book_id}": quantity})
        answer = await visit.api.call("PUT", f"/api/orders/cart/items/{book_id}",
                                      json={"quantity": int(quantity)}, key=key or None)
    if not answer.ok:
        return await _cart_page(visit, status=answer.status,
                                errors={f"quantity-{book_id}": answer.detail})
    return RedirectResponse("/cart", status_code=303)


@router.post("/checkout", response_class=HTMLResponse, dependencies=[SameOrigin])
async def checkout(visit: VisitDep, cart: Annotated[str, Form()] = "",
                   key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    found = await _cart_lines(visit)
    if found is not None and found[1] != cart:
        return await _cart_page(visit, status=409, errors={
            "checkout": "Your cart changed since this page was shown (in another tab or "
                        "device). Check it below, then check out again."})
    answer = await visit.api.call("POST", "/api/orders/checkout", key=key or None)
    if not answer.ok:
        return await _cart_page(visit, status=answer.status,
                                errors={"checkout": answer.detail})
    return RedirectResponse(f"/orders/{answer.body['id']}", status_code=303)


@router.get("/orders", response_class=HTMLResponse)
async def orders(visit: VisitDep) -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    found = await visit.api.get("/api/orders", limit=50)
    if not found.ok:
        return visit.failed(found, "Your orders cannot be shown")
    return visit.render("orders.html", orders=found.body, everyone=False)


async def _order(visit: Visit, order_id: uuid.UUID) -> dict[str, Any] | None:
    found = await visit.api.get(f"/api/orders/{order_id}")
    if not found.ok:
        return None
    order: dict[str, Any] = found.body
    return order


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order(order_id: uuid.UUID, visit: VisitDep) -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    found = await _order(visit, order_id)
    if found is None:
        return visit.render("problem.html", status=404, what="No such order",
                            detail=f"You have no order {order_id}.")
    return visit.render("order.html", order=found, settled=found["status"] in SETTLED)


@router.get("/orders/{order_id}/progress", response_class=HTMLResponse)
async def order_progress(order_id: uuid.UUID, visit: VisitDep) -> Response:
    """The order's status and steps alone: what the order page polls while it is pending."""
    found = await _order(visit, order_id) if visit.signed_in else None
    if found is None:
        return HTMLResponse("<p role=alert>This order cannot be shown.</p>", status_code=404)
    return visit.render("order_progress.html", order=found,
                        settled=found["status"] in SETTLED)
