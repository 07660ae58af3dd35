"""The peers' HTTP front: `POST /checkout {"user", "book", "price"}` runs one checkout.

Every peer answers behind the same small Starlette app on uvicorn, as our services
do, so the load generator drives all five systems over HTTP in the same way.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.peers.steps import StepRefused

Checkout = Callable[[uuid.UUID, uuid.UUID, uuid.UUID, int], Awaitable[None]]
"""(order id, user id, book id, price in cents) -> None once the checkout has ended."""


def config() -> dict[str, Any]:
    """The peer's settings: one JSON object as the only argument."""
    return dict(json.loads(sys.argv[1]))


def serve(port: int, lifespan: Callable[[], AbstractAsyncContextManager[Checkout]]) -> None:
    """Serve `POST /checkout` on 127.0.0.1:`port` until SIGTERM."""
    state: dict[str, Checkout] = {}

    async def checkout(request: Request) -> Response:
        body = await request.json()
        order_id = uuid.uuid4()
        try:
            await state["checkout"](order_id, uuid.UUID(body["user"]), uuid.UUID(body["book"]),
                                    int(body["price"]))
        except StepRefused as exc:
            return JSONResponse({"order": str(order_id), "status": "CANCELLED",
                                 "reason": str(exc)}, status_code=200)
        return JSONResponse({"order": str(order_id), "status": "CONFIRMED"})

    async def health(_: Request) -> Response:
        return JSONResponse({"ready": "checkout" in state})

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def app_lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        async with lifespan() as run:
            state["checkout"] = run
            yield

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"]),
                            Route("/health", health)], lifespan=app_lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
