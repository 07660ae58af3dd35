"""Reviews' HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from msa import (
    CurrentUser,
    IdempotencyKey,
    NotFound,
    Principal,
    Runtime,
    Work,
    get_runtime,
    run_idempotent,
    snapshot,
)
from reviews import adapters, handlers
from reviews.domain import MAX_RATING, MAX_TEXT, MIN_RATING, clean_text

router = APIRouter(prefix="/api/reviews", tags=["reviews"])
internal = APIRouter(prefix="/internal/reviews", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Review(BaseModel):
    book_id: uuid.UUID
    user_id: uuid.UUID
    rating: int
    text: str
    created_at: datetime
    updated_at: datetime


class PublicReview(BaseModel):
    """A review as anyone may read it: by a verified buyer, without who they are."""

    book_id: uuid.UUID
    rating: int
    text: str
    verified_purchase: bool = True
    created_at: datetime
    updated_at: datetime


class BookReviews(BaseModel):
    book_id: uuid.UUID
    average: float
    count: int
    items: list[PublicReview]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Annotated[int, Field(ge=MIN_RATING, le=MAX_RATING, strict=True)]
    text: Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(clean_text)] = ""


async def _apply(rt: Runtime, request: Request, key: str, body: BaseModel | None,
                 work: Work, user: Principal, status: int) -> JSONResponse:
    # PUT and DELETE are idempotent by themselves, but the key makes a late retry replay
    # its first answer instead of overwriting a newer edit.
    return await run_idempotent(rt, request, key, body, work, status=status,
                                principal=str(user.user_id))


@router.put("/books/{book_id}/mine", response_model=Review)
async def write_review(book_id: uuid.UUID, body: ReviewIn, request: Request, rt: RuntimeDep,
                       user: CurrentUser, key: IdempotencyKey) -> JSONResponse:
    """Write or replace the user's review: 403 unless they bought the book (a confirmed
    order, learned from orders' events; it may take a moment to arrive)."""
    async with rt.db.connect() as conn:
        await handlers.ensure_bought(conn, user.user_id, book_id)
    return await _apply(rt, request, key, body, lambda conn: handlers.write_review(
        conn, book_id, user.user_id, body.rating, body.text), user, 200)


@router.get("/books/{book_id}/mine", response_model=Review)
async def my_review(book_id: uuid.UUID, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    """The signed-in user's own review of the book; 404 if they wrote none."""
    async with rt.db.connect() as conn:
        review = await adapters.get_review(conn, book_id, user.user_id)
    if review is None:
        raise NotFound("you have not reviewed this book")
    return review


@router.delete("/books/{book_id}/mine", status_code=204, response_class=Response)
async def remove_review(book_id: uuid.UUID, request: Request, rt: RuntimeDep,
                        user: CurrentUser, key: IdempotencyKey) -> Response:
    return await _apply(rt, request, key, None, lambda conn: handlers.remove_review(
        conn, book_id, user.user_id), user, 204)


@router.get("/books/{book_id}", response_model=BookReviews)
async def book_reviews(
    book_id: uuid.UUID,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        return await handlers.book_reviews(conn, book_id, limit=limit, offset=offset)


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    """Counts, and per rated book the rating catalog should hold (its latest event)."""
    async with snapshot(rt.db) as conn:
        return {**await adapters.counts(conn), "ratings": await adapters.ratings(conn)}
