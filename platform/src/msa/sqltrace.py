"""Database spans: one client span per transaction, from SQLAlchemy's engine events.

A span per statement cost more than the statements it described (a checkout ran
~100 of them), so a transaction is the unit: the span opens when the transaction
begins, names its first statement in `db.statement`, counts the statements that
went through SQLAlchemy, and ends with the commit or rollback (`db.operation`).
Statements the hot paths send on the asyncpg driver directly (`msa.db.driver`)
belong to the same transaction and so to the same span.

A statement that is a transaction of its own (`msa.OneStatement`, a saga's
`LocalStatement`: written in autocommit, no BEGIN) gets the same span from
`statement_span`, ended as a COMMIT of one statement, or as failed.

A transaction's span is kept beside its SQLAlchemy `Connection`, not in the
connection's `info`: `info` belongs to the driver's connection, and when that
connection is lost mid-transaction (the database restarts, its link is cut) reading
`info` during the rollback raises SQLAlchemy's PendingRollbackError, which would
replace the lost connection's error (a 503: try again) with a 500.

Listens on the sync engine behind the service's AsyncEngine (SQLAlchemy runs
the async driver in a greenlet that shares the caller's context, so the current
span is the request's). A transaction outside any trace (the outbox relay's and
the saga recovery's polling, the metrics refresher) gets no span: background
loops would otherwise fill the ring with noise.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from msa.tracing import tracer_for

STATEMENT_CHARS = 300
# an open transaction's SQLAlchemy Connection → [its span, statements so far]
_open: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_SKIPPED = frozenset({"SAVEPOINT", "RELEASE"})  # bookkeeping of nested transactions


def instrument_engine(engine: AsyncEngine, service: str) -> None:
    """Trace the transactions `engine` runs for `service` (no-op when tracing is off)."""
    tracer = tracer_for(service)
    if tracer is None:
        return
    sync_engine = engine.sync_engine
    database = engine.url.database or "db"
    base = {"db.system": "postgresql", "db.name": database}

    def began(conn: Any) -> None:
        if trace.get_current_span().is_recording():  # in a trace, and a sampled one
            _open[conn] = [tracer.start_span(f"transaction {database}",
                                             kind=SpanKind.CLIENT, attributes=base), 0]

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        entry = _open.get(conn)
        if entry is None:
            return
        if entry[1] == 0:
            operation = statement.lstrip()[:16].split(None, 1)[0].upper() if statement else ""
            if operation in _SKIPPED:
                return
            entry[0].set_attribute("db.statement", statement[:STATEMENT_CHARS])
        entry[1] += 1

    def ended(outcome: str) -> Any:
        def end(conn: Any) -> None:
            entry = _open.pop(conn, None)
            if entry is not None:
                span: Span = entry[0]
                span.set_attribute("db.operation", outcome)
                span.set_attribute("db.statements", entry[1])
                span.end()
        return end

    def failed(exception_context: Any) -> None:
        conn = exception_context.connection
        entry = _open.get(conn) if conn is not None else None
        if entry is not None:
            error = exception_context.original_exception
            entry[0].set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200])

    event.listen(sync_engine, "begin", began)
    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "commit", ended("COMMIT"))
    event.listen(sync_engine, "rollback", ended("ROLLBACK"))
    event.listen(sync_engine, "handle_error", failed)


@contextlib.contextmanager
def statement_span(service: str, engine: AsyncEngine, statement: str) -> Iterator[None]:
    """A transaction span around ONE statement run in autocommit (see the module)."""
    tracer = tracer_for(service)
    if tracer is None or not trace.get_current_span().is_recording():
        yield
        return
    span = tracer.start_span(
        f"transaction {engine.url.database or 'db'}", kind=SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.name": engine.url.database or "db",
                    "db.statement": statement[:STATEMENT_CHARS], "db.statements": 1})
    try:
        yield
    except BaseException as error:
        span.set_attribute("db.operation", "ROLLBACK")
        span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200])
        raise
    else:
        span.set_attribute("db.operation", "COMMIT")
    finally:
        span.end()
