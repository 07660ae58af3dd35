"""Administrators' pages: edit the catalogue, restock, every customer's orders.

The pages show the forms; the API decides: a customer who posts here gets the
API's refusal, shown as a page.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.account import parse_amount
from storefront.web import PAGE_SIZE, SameOrigin, Visit, VisitDep

router = APIRouter(prefix="/admin")


def _refused(visit: Visit) -> Response | None:
    if not visit.signed_in:
        return visit.sign_in_first()
    if not visit.is_admin:
        return visit.render("problem.html", status=403, what="For administrators only",
                            detail="These pages are for the store's administrators.")
    return None


@router.get("", response_class=HTMLResponse)
async def catalogue(visit: VisitDep,
                    page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    return _refused(visit) or await _catalogue_page(visit, page)


async def _catalogue_page(visit: Visit, page: int = 1, status: int = 200,
                          **context: Any) -> Response:
    found = await visit.api.get("/api/catalog/books", sort="new", limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)
    if not found.ok:
        return visit.failed(found, "The catalogue cannot be shown")
    total = found.body["total"]
    return visit.render("admin_catalogue.html", status=status, books=found.body["items"],
                        page=page, pages=max(1, -(-total // PAGE_SIZE)), **context)


def _book_fields(title: str, author: str, price: str, description: str
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    cents = parse_amount(price)
    if cents is None or cents <= 0:
        errors["price"] = "Type a price above zero, such as 12.50."
    if not title.strip():
        errors["title"] = "A book needs a title."
    if not author.strip():
        errors["author"] = "A book needs an author."
    return {"title": title.strip(), "author": author.strip(), "price_cents": cents,
            "description": description}, errors


_FIELD = {"price_cents": "price"}


@router.post("/books", response_class=HTMLResponse, dependencies=[SameOrigin])
async def create_book(visit: VisitDep, isbn: Annotated[str, Form()] = "",
                      title: Annotated[str, Form()] = "", author: Annotated[str, Form()] = "",
                      price: Annotated[str, Form()] = "", year: Annotated[str, Form()] = "",
                      description: Annotated[str, Form()] = "",
                      key: Annotated[str, Form()] = "") -> Response:
    refused = _refused(visit)
    if refused:
        return refused
    fields, errors = _book_fields(title, author, price, description)
    if not year.strip().isdigit():
        errors["year"] = "Type the year of publication, such as 2021."
    if not errors:
        answer = await visit.api.call("POST", "/api/catalog/admin/books", key=key or None,
                                      json={**fields, "isbn": isbn.strip(), "year": int(year)})
        if answer.ok:
            return RedirectResponse(f"/admin/books/{answer.body['id']}", status_code=303)
        errors = {_FIELD.get(k, k): v for k, v in answer.field_errors.items()} or {
            "isbn": answer.detail}
    values = {"isbn": isbn, "title": title, "author": author, "price": price, "year": year,
              "description": description}
    return await _catalogue_page(visit, status=422, errors=errors, values=values)


async def _book_page(visit: Visit, book_id: uuid.UUID, status: int = 200,
                     **context: Any) -> Response:
    book = await visit.api.get(f"/api/catalog/books/{book_id}")
    if not book.ok:
        return visit.failed(book, "The book cannot be shown")
    stock = await visit.api.get(f"/api/inventory/stock/{book_id}")
    return visit.render("admin_book.html", status=status, book=book.body,
                        stock=stock.body if stock.ok else None, **context)


@router.get("/books/{book_id}", response_class=HTMLResponse)
async def book(book_id: uuid.UUID, visit: VisitDep) -> Response:
    return _refused(visit) or await _book_page(visit, book_id)


@router.post("/books/{book_id}", response_class=HTMLResponse, dependencies=[SameOrigin])
async def change_book(book_id: uuid.UUID, visit: VisitDep,
                      title: Annotated[str, Form()] = "", author: Annotated[str, Form()] = "",
                      price: Annotated[str, Form()] = "",
                      description: Annotated[str, Form()] = "",
                      key: Annotated[str, Form()] = "") -> Response:
    refused = _refused(visit)
    if refused:
        return refused
    fields, errors = _book_fields(title, author, price, description)
    if not errors:
        answer = await visit.api.call("PATCH", f"/api/catalog/admin/books/{book_id}",
                                      json=fields, key=key or None)
        if answer.ok:
            return RedirectResponse(f"/admin/books/{book_id}?saved=1", status_code=303)
        errors = {_FIELD.get(k, k): v for k, v in answer.field_errors.items()} or {
            "title": answer.detail}
    return await _book_page(visit, book_id, status=422, errors=errors, values={
        "title": title, "author": author, "price": price, "description": description})


@router.post("/books/{book_id}/restock", response_class=HTMLResponse,
             dependencies=[SameOrigin])
async def restock(book_id: uuid.UUID, visit: VisitDep, quantity: Annotated[str, Form()] = "",
                  key: Annotated[str, Form()] = "") -> Response:
    refused = _refused(visit)
    if refused:
        return refused
    if not quantity.strip().isdigit() or int(quantity) < 1:
        error = "Type how many copies arrived: 1 or more."
    else:
        answer = await visit.api.call("POST", "/api/inventory/admin/restock", key=key or None,
                                      json={"book_id": str(book_id), "quantity": int(quantity)})
        if answer.ok:
            return RedirectResponse(f"/admin/books/{book_id}?restocked={int(quantity)}",
                                    status_code=303)
        error = answer.field_errors.get("quantity") or answer.detail
    return await _book_page(visit, book_id, status=422, errors={"quantity": error},
                            values={"quantity": quantity})


@router.get("/orders", response_class=HTMLResponse)
async def all_orders(visit: VisitDep) -> Response:
    refused = _refused(visit)
    if refused:
        return refused
    found = await visit.api.get("/api/orders", all="true", limit=100)
    if not found.ok:
        return visit.failed(found, "The orders cannot be shown")
    return visit.render("orders.html", orders=found.body, everyone=True)
