"""Idempotency keys: a repeated state-changing request returns the stored response.

Every state-changing endpoint takes an `Idempotency-Key` header. The key, a hash
of the request and the response are stored in the SAME transaction as the effect,
so a request either happened once with its response stored, or not at all.

    @router.post("/api/wallet/topups", status_code=201)
    async def top_up(body: TopUp, request: Request, key: IdempotencyKey,
                     rt: Runtime = Depends(get_runtime)) -> JSONResponse:
        return await run_idempotent(rt, request, key, body,
                                    lambda conn: handlers.top_up(conn, body), status=201)

A concurrent repeat waits on the key's row until the first commits, then gets its
response. The same key with a different request gets 422. A `Problem` raised by
the work (a definite business refusal, e.g. 409 not enough credit) is stored too:
the refusal is the answer to that key. Unexpected errors store nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import faults
from msa.problems import PROBLEM_JSON, Problem
from msa.service import Runtime
from msa.tables import idempotency

MAX_KEY_LENGTH = 200


class MissingIdempotencyKey(Problem):
    status = 400
    title = "Idempotency-Key required"


def _require_key(
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Unique key of this request; repeats "
               "with the same key return the stored response"),
    ] = None,
) -> str:
    if not idempotency_key or not idempotency_key.strip():
        raise MissingIdempotencyKey("this request changes state: send an Idempotency-Key header")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise MissingIdempotencyKey(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters")
    return idempotency_key.strip()


IdempotencyKey = Annotated[str, Depends(_require_key)]

Work = Callable[[AsyncConnection], Awaitable[Any]]


async def run_idempotent(
    runtime: Runtime,
    request: Request,
    key: str,
    body: BaseModel | dict[str, Any] | None,
    work: Work,
    *,
    status: int = 200,
    principal: str = "",
) -> JSONResponse:
    """Run `work` once per (endpoint, principal, key) and store its response.

    The principal defaults to the acting user, so two users' keys never collide.
    """
    principal = principal or request.headers.get("x-user-id", "")
    scope = f"{request.method} {_route(request)} {principal}".strip()
    request_hash = _hash(request, body)
    async with runtime.db.begin() as conn:
        claimed = (await conn.execute(
            pg_insert(idempotency)
            .values(scope=scope, key=key, request_hash=request_hash, status_code=0,
                    response=None)
            .on_conflict_do_nothing()
            .returning(idempotency.c.key)
        )).first()
        if claimed is None:
            return await _stored(conn, scope, key, request_hash)
        try:
            async with conn.begin_nested():
                result = await work(conn)
            code, payload, media = status, jsonable_encoder(result), "application/json"
        except Problem as problem:
            code, payload, media = problem.status, problem.body(request.url.path), PROBLEM_JSON
        await conn.execute(
            update(idempotency)
            .where(idempotency.c.scope == scope, idempotency.c.key == key)
            .values(status_code=code, response=payload)
        )
    faults.point("idempotency.after_commit")  # the effect is stored; the caller never hears
    return _answer(payload, code, media, {})


class _NoContent(JSONResponse):
    """A 204 answer: no body at all (a JSONResponse would send `null`)."""

    def render(self, content: Any) -> bytes:
        return b""


def _answer(payload: Any, code: int, media: str, headers: dict[str, str]) -> JSONResponse:
    if code == 204:
        return _NoContent(None, status_code=204, headers=headers)
    return JSONResponse(payload, status_code=code, media_type=media, headers=headers)


async def _stored(conn: AsyncConnection, scope: str, key: str, request_hash: str) -> JSONResponse:
    row = (await conn.execute(
        select(idempotency.c.request_hash, idempotency.c.status_code, idempotency.c.response)
        .where(idempotency.c.scope == scope, idempotency.c.key == key)
    )).one()
    if row.request_hash != request_hash:
        raise Problem(
            "this Idempotency-Key was used with a different request",
            status=422, title="Idempotency-Key reused",
        )
    media = PROBLEM_JSON if row.status_code >= 400 else "application/json"
    return _answer(row.response, row.status_code, media, {"Idempotent-Replayed": "true"})


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


def _hash(request: Request, body: BaseModel | dict[str, Any] | None) -> str:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    canonical = json.dumps(
        {"path": request.url.path, "body": data}, sort_keys=True, separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
