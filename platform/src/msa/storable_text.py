"""Refuse text that PostgreSQL cannot store, before any route sees it.

PostgreSQL's `text` holds no NUL character and only valid UTF-8, so a NUL (or a
lone UTF-16 surrogate, which has no UTF-8 form) in a path, a query parameter or a
JSON string would reach the database and fail there as a 500. `StorableText`
answers such a request with a 422 problem naming the field, once for every route
of every service.

The check is cheap when nothing is wrong: a byte search of the raw query string
and body for an escaped NUL or surrogate; only a request that has one is parsed
to find the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msa.problems import PROBLEM_JSON, Problem

_SUSPECT_QUERY = re.compile(rb"%00|%ed%[ab][0-9a-f]", re.IGNORECASE)
_SUSPECT_JSON = re.compile(rb"\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def unstorable(text: str) -> bool:
    """True if `text` cannot be stored in a PostgreSQL text column."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class UnstorableText(Problem):
    status = 422
    title = "Invalid request"


def _refusal(where: list[str]) -> UnstorableText:
    return UnstorableText(
        f"invalid input at {'.'.join(where)}: text may not hold a NUL character or an "
        "unpaired surrogate", errors=[{"loc": where, "msg": "text holds a character that "
                                        "cannot be stored", "type": "unstorable_text"}])


def _bad_strings(value: Any, where: list[str]) -> Iterator[list[str]]:
    if isinstance(value, str):
        if unstorable(value):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                yield [*where, "(key)"]
            else:
                yield from _bad_strings(item, [*where, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, [*where, str(index)])


def _in_query(raw: bytes) -> list[str] | None:
    if not _SUSPECT_QUERY.search(raw):
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True,
                                 errors="surrogatepass"):
        if unstorable(name):
            return ["query", "(name)"]
        if unstorable(value):
            return ["query", name]
    return None


def _in_body(raw: bytes) -> list[str] | None:
    if not _SUSPECT_JSON.search(raw):
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None  # not JSON after all: the route's own validation answers it
    return next(_bad_strings(document, ["body"]), None)


class StorableText:
    """ASGI middleware: a 422 problem for a NUL or lone surrogate in path, query or JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = ["path"] if unstorable(scope.get("path", "")) else _in_query(
            scope.get("query_string", b""))
        if where is None and _has_json_body(scope):
            body, receive = await _buffered(receive)
            where = _in_body(body)
        if where is not None:
            await _send_problem(scope, send, _refusal(where))
            return
        await self.app(scope, receive, send)


def _has_json_body(scope: Scope) -> bool:
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body; return it and a `receive` that plays it again."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return b"".join(chunks), replay


async def _send_problem(scope: Scope, send: Send, problem: Problem) -> None:
    body = json.dumps(problem.body(scope.get("path") if not unstorable(
        scope.get("path", "")) else None)).encode()
    await send({"type": "http.response.start", "status": problem.status, "headers": [
        (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
