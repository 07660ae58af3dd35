"""Finding books: the home page, search and browse, a book's page and its reviews."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefront.web import PAGE_SIZE, SameOrigin, VisitDep

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(visit: VisitDep) -> Response:
    newest = await visit.api.get("/api/catalog/books", sort="new", limit=6)
    rated = await visit.api.get("/api/catalog/books", sort="rating", limit=6)
    if not newest.ok:
        return visit.failed(newest, "The catalogue cannot be shown")
    top = [b for b in rated.body["items"] if b["rating_count"]] if rated.ok else []
    return visit.render("home.html", newest=newest.body["items"], top_rated=top)


@router.get("/books", response_class=HTMLResponse)
async def books(visit: VisitDep, q: Annotated[str | None, Query(max_length=200)] = None,
                page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                search: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    """Browse every book, or search when `q` is given (an empty search is refused)."""
    errors: dict[str, str] = {}
    query = (q or "").strip()
    if search is not None and not query:
        errors["q"] = "Type a word of a title or an author to search for."
    elif len(query) > 100:
        errors["q"] = "A search is at most 100 characters."
    if errors:
        return visit.render("books.html", status=422, errors=errors, values={"q": q or ""},
                            books=[], total=0, page=1, pages=1)
    found = await visit.api.get("/api/catalog/books", q=query or None, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)
    if not found.ok:
        return visit.failed(found, "The catalogue cannot be shown")
    total = found.body["total"]
    return visit.render("books.html", books=found.body["items"], total=total, page=page,
                        pages=max(1, -(-total // PAGE_SIZE)), values={"q": query})


async def _book_context(visit: Any, book_id: uuid.UUID) -> dict[str, Any] | None:
    page = await visit.api.get(f"/api/books/{book_id}/page")
    if not page.ok:
        return None
    reviews = await visit.api.get(f"/api/reviews/books/{book_id}", limit=20)
    return {"book": page.body["book"], "stock": page.body["stock"],
            "reviews": reviews.body if reviews.ok else None}


@router.get("/books/{book_id}", response_class=HTMLResponse)
async def book(book_id: uuid.UUID, visit: VisitDep) -> Response:
    context = await _book_context(visit, book_id)
    if context is None:
        return visit.render("problem.html", status=404, what="No such book",
                            detail=f"There is no book {book_id} in the catalogue.")
    return visit.render("book.html", **context)


@router.post("/books/{book_id}/review", response_class=HTMLResponse, dependencies=[SameOrigin])
async def write_review(book_id: uuid.UUID, visit: VisitDep,
                       rating: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
                       key: Annotated[str, Form()] = "") -> Response:
    if not visit.signed_in:
        return visit.sign_in_first()
    errors: dict[str, str] = {}
    if not rating.isdigit() or not 1 <= int(rating) <= 5:
        errors["rating"] = "Choose a rating from 1 to 5 stars."
    else:
        answer = await visit.api.call("PUT", f"/api/reviews/books/{book_id}/mine",
                                      json={"rating": int(rating), "text": text}, key=key or None)
        if answer.ok:
            return RedirectResponse(f"/books/{book_id}#reviews", status_code=303)
        errors = answer.field_errors or {"text": answer.detail}
    context = await _book_context(visit, book_id) or {}
    return visit.render("book.html", status=422, errors=errors,
                        values={"rating": rating, "text": text}, **context)
