"""Catalog's HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from catalog import adapters, handlers
from catalog.domain import is_valid_isbn13, normalise_isbn
from msa import AdminUser, IdempotencyKey, NotFound, Runtime, get_runtime, run_idempotent, snapshot

router = APIRouter(prefix="/api/catalog", tags=["catalog"])
admin = APIRouter(prefix="/api/catalog/admin", tags=["catalog admin"])
internal = APIRouter(prefix="/internal/catalog", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Book(BaseModel):
    id: uuid.UUID
    isbn: str
    title: str
    author: str
    price_cents: int
    currency: str
    year: int
    description: str
    rating_avg: float | None
    rating_count: int


class BookPage(BaseModel):
    items: list[Book]
    total: int
    limit: int
    offset: int


class NewBook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    isbn: str = Field(min_length=10, max_length=17)
    title: str = Field(min_length=1, max_length=300)
    author: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(gt=0, le=1_000_000)
    year: int = Field(ge=1450, le=2100)
    description: str = Field(default="", max_length=5000)

    @field_validator("isbn")
    @classmethod
    def _isbn(cls, value: str) -> str:
        value = normalise_isbn(value)
        if not is_valid_isbn13(value):
            raise ValueError("not a valid ISBN-13")
        return value


class BookChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    author: str | None = Field(default=None, min_length=1, max_length=200)
    price_cents: int | None = Field(default=None, gt=0, le=1_000_000)
    description: str | None = Field(default=None, max_length=5000)


@router.get("/books", response_model=BookPage)
async def list_books(
    rt: RuntimeDep,
    q: Annotated[str | None, Query(max_length=100, description="words in title or author")] = None,
    author: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Annotated[adapters.BookOrder, Query(description="title (A-Z), new (newest first) "
                                              "or rating (best rated first)")] = "title",
) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        items, total = await adapters.list_books(conn, q=q, author=author, limit=limit,
                                                 offset=offset, sort=sort)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/books/isbn/{isbn}", response_model=Book)
async def get_by_isbn(isbn: str, rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        book = await adapters.get_by_isbn(conn, normalise_isbn(isbn))
    if book is None:
        raise NotFound(f"no book with ISBN {isbn}")
    return book


@router.get("/books/{book_id}", response_model=Book)
async def get_book(book_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        book = await adapters.get_book(conn, book_id)
    if book is None:
        raise NotFound(f"no book {book_id}")
    return book


@admin.post("/books", status_code=201, response_model=Book)
async def create_book(body: NewBook, request: Request, key: IdempotencyKey, rt: RuntimeDep,
                      user: AdminUser) -> JSONResponse:
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.create_book(conn, body.model_dump()),
                                status=201)


@admin.patch("/books/{book_id}", response_model=Book)
async def change_book(book_id: uuid.UUID, body: BookChanges, request: Request,
                      key: IdempotencyKey, rt: RuntimeDep, user: AdminUser) -> JSONResponse:
    changes = body.model_dump(exclude_none=True)
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.change_book(conn, book_id, changes))


@internal.get("/books", response_model=list[Book])
async def books_by_id(rt: RuntimeDep,
                      ids: Annotated[list[uuid.UUID], Query(max_length=200)]) -> list[Any]:
    async with rt.db.connect() as conn:
        return await adapters.get_many(conn, ids)


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    """How many books, and the rating copied from reviews' events for each rated one."""
    async with snapshot(rt.db) as conn:
        return {"books": await adapters.count_books(conn),
                "ratings": await adapters.ratings(conn)}
