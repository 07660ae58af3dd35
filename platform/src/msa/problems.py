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
from msa.db import database_unreachable, transaction_aborted

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
        refusal = refusal_of(exc)
        if refusal is not None:  # the client's input broke a data rule: rolled back, a 4xx
            return await on_problem(request, refusal)
        if database_unreachable(exc):
            # the database is restarting or its link is down: no fault of the request,
            # and its transaction did not commit unless the connection died in the commit
            return _try_again(request, 503, exc, "the service's database is unreachable; try "
                              "again (with the same Idempotency-Key for a change)")
        if transaction_aborted(exc):  # a deadlock or a serialization conflict was broken
            return _try_again(request, 503, exc, "the database rolled this request back to "
                              "settle a conflict with another; nothing was written: try again "
                              "(with the same Idempotency-Key for a change)")
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


# Database refusals a client can cause, as 4xx problems instead of 500s.
#
# A request that slips past validation and breaks a rule the database enforces (a
# CHECK, a unique key, a foreign key, a value out of a column's range) is the
# client's doing, not a server fault: its transaction rolled back, so nothing was
# written, and the answer says which rule refused it. Only the constraint's name is
# told (and logged): never the statement or its parameters, which hold user data.

# SQLSTATE → (HTTP status, what the rule is)
_REFUSALS = {
    "23505": (409, "a unique rule"),  # unique_violation: the thing exists already
    "23503": (409, "a reference rule"),  # foreign_key_violation: refers to what is not there
    "23P01": (409, "an exclusion rule"),  # exclusion_violation
    "23514": (422, "a check rule"),  # check_violation
    "23502": (422, "a required value"),  # not_null_violation
}
_UNSTORABLE = {  # SQLSTATE class 22 codes that a value sent by a client can cause
    "22001",  # string_data_right_truncation: longer than the column
    "22003",  # numeric_value_out_of_range
    "22007", "22008",  # invalid_datetime_format, datetime_field_overflow
    "22021",  # character_not_in_repertoire: not valid in the database's encoding
    "22P02",  # invalid_text_representation
    "22P05",  # untranslatable_character
}


class ConstraintRefusal(Problem):
    """A write the database refused because of what the request asked for."""


def refusal_of(exc: BaseException | None) -> ConstraintRefusal | None:
    """The 4xx problem for a client-caused database refusal in `exc`'s chain, else None."""
    sqlstate: str | None = None
    constraint: str | None = None
    seen = 0
    while exc is not None and seen < 10:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate is None and isinstance(code, str):
            sqlstate = code
        constraint = constraint or getattr(exc, "constraint_name", None)
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return None if sqlstate is None else _problem(sqlstate, constraint)


def _problem(sqlstate: str, constraint: str | None) -> ConstraintRefusal | None:
    named = f" ({constraint})" if constraint else ""
    if sqlstate in _REFUSALS:
        status, rule = _REFUSALS[sqlstate]
        _log.info("request refused by %s%s", rule, named)
        return ConstraintRefusal(f"the request breaks {rule} of the data{named}; nothing was "
                                 "written", status=status,
                                 title="Conflict" if status == 409 else "Unprocessable content")
    if sqlstate in _UNSTORABLE:
        _log.info("request refused: a value the database cannot hold (SQLSTATE %s)", sqlstate)
        return ConstraintRefusal("a value in the request cannot be stored; nothing was written",
                                 status=422, title="Unprocessable content")
    return None
