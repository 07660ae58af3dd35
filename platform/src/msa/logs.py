"""JSON logs with the request, trace and user of the work being done.

Every record passes `msa.log_redaction.Redactor` first: no SQL parameters, emails
or tokens are written.

One line per record on stdout; the runner collects them per instance and
`msa logs` merges them. Context travels in contextvars, so it follows a
request through awaits without being passed around.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from msa.log_redaction import Redactor

request_id_var: ContextVar[str | None] = ContextVar("msa_request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("msa_user_id", default=None)
service_var: ContextVar[str | None] = ContextVar("msa_service", default=None)

_STATIC: dict[str, str] = {}
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with the current context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            **_STATIC,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        service = service_var.get()
        if service:
            entry["service"] = service
        for key, var in (("request_id", request_id_var), ("user", user_id_var)):
            value = var.get()
            if value:
                entry[key] = value
        trace = _current_trace()
        if trace:
            entry["trace_id"], entry["span_id"] = trace
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and redacted) by the handler's filter
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


def _current_trace() -> tuple[str, str] | None:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - the SDK is a dependency
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def configure_logging(service: str, instance: str, version: str, level: str = "INFO") -> None:
    """Send every log record to stdout as JSON, tagged with service, instance and version."""
    _STATIC.update({"service": service, "instance": instance, "version": version})
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Redactor(_RESERVED))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "alembic", "nats", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class ActingUser:
    """ASGI middleware: the acting user (`X-User-Id`) into the logs and the server span.

    Placed inside the service guard, so it sees the header only as the guard lets
    it through (set by the gateway, dropped from anyone else): a caller cannot
    make the logs name someone else.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = None
        if scope["type"] == "http":
            for key, value in scope.get("headers", ()):
                if key == b"x-user-id":
                    user = value.decode("latin-1")[:64] or None
                    break
        if user is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace

        trace.get_current_span().set_attribute("enduser.id", user)
        token = user_id_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            user_id_var.reset(token)

