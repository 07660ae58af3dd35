"""Forwarding public requests to the service that owns them.

The gateway authenticates (`gateway.app.visitor` verifies the access token) and
passes the user on as `X-User-Id` / `X-User-Role`; services authorise. Headers a
client could use to pose as someone (including a service) are dropped: only a short
list of headers crosses in each direction.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

from gateway.routing import Target
from msa import (
    CLIENT_ADDRESS_HEADER,
    ROLE_HEADER,
    USER_HEADER,
    Claims,
    NotFound,
    Problem,
    Runtime,
    ServiceTimeout,
    ServiceUnavailable,
)

PROXY_TIMEOUT = 10.0
_PLAIN_QUERY = re.compile(r"[\x21\x22\x24-\x7e]*")  # visible ASCII but "#": relayed unchanged
_REQUEST_HEADERS = ("content-type", "accept", "idempotency-key", "if-none-match", "traceparent",
                    "tracestate")
_RESPONSE_HEADERS = ("content-type", "location", "idempotent-replayed", "retry-after", "etag")


class PayloadTooLarge(Problem):
    status = 413
    title = "Content too large"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def forward(rt: Runtime, target: Target, request: Request, user: Claims | None,
                  max_body: int) -> Response:
    """Send `request` to `target` (its checked path, never another) as the verified `user`
    (if any); relay the answer."""
    service = target.service
    try:
        path = target.upstream_path()
    except ValueError:
        raise NotFound(f"no API at {request.url.path}") from None
    params: list[tuple[str, str]] | None = None
    query = request.scope.get("query_string", b"").decode("latin-1")
    if _PLAIN_QUERY.fullmatch(query):
        path = f"{path}?{query}" if query else path  # relayed as the client encoded it
    else:
        params = list(request.query_params.multi_items())  # encoded anew
    headers = {name: request.headers[name] for name in _REQUEST_HEADERS if name in request.headers}
    if request.client is not None:  # for identity's sign-in throttling
        headers[CLIENT_ADDRESS_HEADER] = request.client.host
    if user is not None:
        headers[USER_HEADER] = str(user.user_id)
        headers[ROLE_HEADER] = user.role
    body = await read_body(request, max_body)
    try:
        answer = await rt.client(service).request(
            request.method, path, content=body or None, params=params,
            headers=headers, timeout=PROXY_TIMEOUT, passthrough=True,
            retries=None if request.method in ("GET", "HEAD") else 0,
        )
    except ServiceTimeout:
        raise Problem(f"{service} did not answer in time", status=504,
                      title="Gateway timeout") from None
    except ServiceUnavailable:
        raise Problem(f"{service} is unavailable", status=503,
                      title="Service unavailable") from None
    relay = {name: answer.headers[name] for name in _RESPONSE_HEADERS if name in answer.headers}
    return Response(answer.content, status_code=answer.status_code, headers=relay)
