"""Database spans: one client span per SQL statement, from SQLAlchemy's engine events.

Listens on the sync engine behind the service's AsyncEngine (SQLAlchemy runs
the async driver in a greenlet that shares the caller's context, so the current
span is the request's). A statement outside any trace (the outbox relay's and
the saga recovery's polling, the metrics refresher) gets no span: background
loops would otherwise fill the ring with noise. SAVEPOINT / RELEASE get none either:
they are a tenth of a checkout's statements and say nothing an operator needs.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from msa.tracing import tracer_for

STATEMENT_CHARS = 300
_SPAN = "_msa_span"
_SKIPPED = frozenset({"SAVEPOINT", "RELEASE"})  # bookkeeping of nested transactions


def instrument_engine(engine: AsyncEngine, service: str) -> None:
    """Trace the statements `engine` runs for `service` (no-op when tracing is off)."""
    tracer = tracer_for(service)
    if tracer is None:
        return
    sync_engine = engine.sync_engine
    database = engine.url.database or "db"
    base = {"db.system": "postgresql", "db.name": database}

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if context is None or not trace.get_current_span().get_span_context().is_valid:
            return
        operation = statement.lstrip()[:16].split(None, 1)[0].upper() if statement else "SQL"
        if operation in _SKIPPED:
            return
        span = tracer.start_span(f"{operation} {database}", kind=SpanKind.CLIENT, attributes={
            **base, "db.operation": operation, "db.statement": statement[:STATEMENT_CHARS]})
        setattr(context, _SPAN, span)

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            span.end()
            setattr(context, _SPAN, None)

    def failed(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _SPAN, None)
        if span is not None:
            error = exception_context.original_exception
            span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200])
            span.end()
            setattr(exception_context.execution_context, _SPAN, None)

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
