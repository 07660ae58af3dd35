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
response (its own work rolled back). The same key with a different request gets
422. A `Problem` raised by the work (a definite business refusal, e.g. 409 not
enough credit) is stored too: the refusal is the answer to that key. Unexpected
errors store nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import faults
from msa.db import columns, driver, renumbered
from msa.messaging.outbox import HeldEvent, HeldWrite, filled, held_events_cte, holding_events
from msa.one_statement import OneStatement, run_in_one_statement
from msa.problems import PROBLEM_JSON, Problem
from msa.runtime import Runtime
from msa.tables import idempotency

MAX_KEY_LENGTH = 200


class MissingIdempotencyKey(Problem):
    status = 400
    title = "Idempotency-Key required"


async def _require_key(
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
    usual: OneStatement | None = None,
) -> JSONResponse:
    """Run `work` once per (endpoint, principal, key) and store its response.

    The principal defaults to the acting user, so two users' keys never collide.

    The work runs first and the key is stored after it, with the response, in the
    same transaction: one statement of bookkeeping on the way that matters, which
    also writes the events the work emitted (held until then: `holding_events`). A
    repeat that arrives while the first is in flight blocks on the key's row until
    the first commits, then rolls its own work back and answers the stored
    response; a repeat of a stored key does the same. A `Problem` from the work
    rolls the work back and stores the refusal in a transaction of its own.

    With `usual`, the usual case is tried first as one statement (see `OneStatement`);
    `work` runs only when that statement wrote nothing.
    """
    principal = principal or request.headers.get("x-user-id", "")
    scope = f"{request.method} {_route(request)} {principal}".strip()
    request_hash = _hash(request, body)
    try:
        if usual is not None:
            answered = await _in_one_statement(runtime, scope, key, request_hash, status, usual)
            if answered is not None:
                if usual.written is not None:
                    usual.written(answered)
                faults.point("idempotency.after_commit")
                return _answer(answered, status, "application/json", {})
        async with runtime.db.begin() as conn:
            writes: list[HeldWrite] = []
            with holding_events(conn, writes) as events:
                result = await work(conn)
            code, payload, media = status, jsonable_encoder(result), "application/json"
            if not await _store(conn, scope, key, request_hash, code, payload, events,
                                writes):
                raise _AlreadyStored
    except _AlreadyStored:
        return await _replay(runtime, scope, key, request_hash)
    except Problem as problem:
        code, payload, media = problem.status, problem.body(request.url.path), PROBLEM_JSON
        async with runtime.db.begin() as conn:
            if not await _store(conn, scope, key, request_hash, code, payload):
                return await _stored(conn, scope, key, request_hash)
    except Exception:
        # the work may have failed only because an earlier request with this key did
        # the same thing first (a unique row it wrote): then that request's answer holds
        stored = await _replay_if_stored(runtime, scope, key, request_hash)
        if stored is None:
            raise
        return stored
    faults.point("idempotency.after_commit")  # the effect is stored; the caller never hears
    return _answer(payload, code, media, {})


class _AlreadyStored(Exception):
    """The key was stored by an earlier request: this one's work is rolled back."""


_STORE = (
    "INSERT INTO msa_idempotency (scope, key, request_hash, status_code, response) "
    "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING true"
)


async def _store(conn: AsyncConnection, scope: str, key: str, request_hash: str, code: int,
                 payload: Any, events: Sequence[HeldEvent] = (),
                 writes: Sequence[HeldWrite] = ()) -> bool:
    """Store the key with its response, and the events and the statements the work
    held, in one statement; False when another request stored the key first (the
    caller then rolls back, events and held statements included)."""
    raw = await driver(conn)
    args: list[Any] = [scope, key, request_hash, code,
                       json.dumps(payload, separators=(",", ":"))]
    ctes = []
    if events:
        ctes.append(held_events_cte(len(args) + 1))
        args += columns(events, 5)
    for n, (statement, values) in enumerate(writes):
        ctes.append(f"held{n} AS ({renumbered(statement, len(args) + 1)})")
        args += values
    statement = f"WITH {', '.join(ctes)} {_STORE}" if ctes else _STORE
    return bool(await raw.fetchval(statement, *args))


async def _in_one_statement(runtime: Runtime, scope: str, key: str, request_hash: str,
                            code: int, usual: OneStatement) -> Any:
    """The answer stored by `usual`'s statement, or None when it wrote nothing."""
    p = [f"${len(usual.args) + 1 + i}" for i in range(5)]
    stored = (
        # no ON CONFLICT: a key stored before fails the statement, which undoes it all
        "stored AS (INSERT INTO msa_idempotency (scope, key, request_hash, status_code, "
        f"response) SELECT {p[0]}, {p[1]}, {p[2]}, {p[3]}, {filled(p[4] + '::jsonb', 'w')} "
        "FROM work w RETURNING response)")
    answer = json.dumps(jsonable_encoder(usual.answer), separators=(",", ":"))
    try:
        row = await run_in_one_statement(runtime, usual, [stored],
                                         [scope, key, request_hash, code, answer],
                                         "SELECT response::text FROM stored")
    except asyncpg.PostgresError:
        return None  # nothing was written: the transaction looks at it again
    return None if row is None else json.loads(row[0])


async def _replay(runtime: Runtime, scope: str, key: str, request_hash: str) -> JSONResponse:
    async with runtime.db.connect() as conn:
        return await _stored(conn, scope, key, request_hash)


async def _replay_if_stored(runtime: Runtime, scope: str, key: str,
                            request_hash: str) -> JSONResponse | None:
    try:
        async with runtime.db.connect() as conn:
            found = (await conn.execute(
                select(idempotency.c.key)
                .where(idempotency.c.scope == scope, idempotency.c.key == key)
            )).first()
            return None if found is None else await _stored(conn, scope, key, request_hash)
    except Problem:
        raise
    except Exception:
        return None  # the original error says more


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
