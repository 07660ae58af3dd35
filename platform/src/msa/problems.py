"""Errors as RFC 9457 problem details: `application/problem+json` bodies.

A service raises `Problem` (or a subclass) from anywhere below its routes; the
handlers installed by the app factory turn it, request validation errors and
unexpected failures into problem responses. Nothing leaks a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from msa.call_errors import ServiceTimeout, ServiceUnavailable

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("msa.problems")


class Problem(Exception):
    """An error a client should see, with an HTTP status and a problem body."""

    status: int = 400
    title: str = "Bad request"
    type: str = "about:blank"
    headers: dict[str, str] | None = None  # sent with the answer (e.g. Retry-After)

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        if type is not None:
            self.type = type
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


_PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"},
                   "instance": {"type": "string"}},
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}
    for code, description in (("4XX", "Refused: a problem (RFC 9457) says why"),
                              ("5XX", "Not answered: a problem (RFC 9457) says why"))
}
"""What every operation may answer besides success, for its OpenAPI document."""


class NotFound(Problem):
    status = 404
    title = "Not found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class Unprocessable(Problem):
    status = 422
    title = "Unprocessable content"


class Unavailable(Problem):
    status = 503
    title = "Service unavailable"


def problem_response(
    status: int, title: str, detail: str | None = None, instance: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(
        Problem(detail, status=status, title=title, **extra).body(instance),
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` answer with a problem body."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return JSONResponse(
            exc.body(request.url.path), status_code=exc.status, media_type=PROBLEM_JSON,
            headers=exc.headers,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        response = problem_response(exc.status_code, title, detail, request.url.path)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
        where = ", ".join(".".join(e["loc"]) for e in errors[:3])
        return problem_response(
            422, "Invalid request", f"invalid input at {where}", request.url.path, errors=errors
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        from msa.constraint_problems import refusal_of
        from msa.db import database_unreachable

        refusal = refusal_of(exc)
        if refusal is not None:  # the client's input broke a data rule: rolled back, a 4xx
            return await on_problem(request, refusal)
        if database_unreachable(exc):
            # the database is restarting or its link is down: no fault of the request,
            # and its transaction did not commit unless the connection died in the commit
            return _try_again(request, 503, exc, "the service's database is unreachable; try "
                              "again (with the same Idempotency-Key for a change)")
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal server error", None, request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        # a call to another service failed and nothing here handled it: the caller may
        # retry later, so say so instead of a bare 500
        return _try_again(request, 504 if isinstance(exc, ServiceTimeout) else 503, exc,
                          str(exc))

    app.add_exception_handler(ServiceUnavailable, on_dependency)
    app.add_exception_handler(ServiceTimeout, on_dependency)
    app.add_exception_handler(Exception, on_unexpected)


def _try_again(request: Request, status: int, exc: Exception, detail: str) -> JSONResponse:
    """A 503/504 problem with `Retry-After`: something this service needs is away."""
    _log.warning("%s on %s %s: %s", _TITLES[status].lower(), request.method,
                 request.url.path, exc)
    response = problem_response(status, _TITLES[status], detail, request.url.path)
    response.headers["Retry-After"] = "1"
    return response


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
