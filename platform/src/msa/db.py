"""A service's database: one async engine (one pool) and Alembic migrations at start.

Each service has its own database and role. At start the platform's own tables
(outbox, inbox, idempotency keys, sagas) are migrated first, with their own
version table, then the service's migrations. An advisory lock makes replicas
that start together migrate one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from msa.settings import DB_POOL_SIZE

PLATFORM_MIGRATIONS = Path(__file__).parent / "migrations"
PLATFORM_VERSION_TABLE = "msa_alembic_version"
SERVICE_VERSION_TABLE = "alembic_version"
_MIGRATION_LOCK = 0x6D73_6130  # "msa0": advisory lock key for migrations

_log = logging.getLogger("msa.db")


def asyncpg_url(url: str) -> str:
    """`postgresql://…` → `postgresql+asyncpg://…` (other drivers are left alone)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, pool_size: int = DB_POOL_SIZE,
                  application_name: str = "msa") -> AsyncEngine:
    """One engine per service, one pool: connections are kept, not made per request.

    The pool opens at most `pool_size` connections and keeps every one it opened: a
    request that finds them all busy waits for one (up to `pool_timeout`) instead of
    opening another. There is no overflow: SQLAlchemy closes an overflow connection
    the moment it is returned, so under a burst every request past the pool paid a
    whole connection set-up (a new PostgreSQL backend, SCRAM, and asyncpg's type
    introspection on a backend with cold catalog caches, about 30 ms of planning),
    measured at 48 new connections in 15 s for inventory alone at saturation. More
    connections than that would not run more statements at once on a machine's
    cores anyway. On loopback TLS is not attempted (asyncpg tries it by default),
    unless the URL asks for it.
    """
    parsed = make_url(url)
    connect_args: dict[str, object] = {
        "server_settings": {"application_name": application_name},
        "timeout": 5,
    }
    if parsed.host in ("127.0.0.1", "localhost", "::1", None) and not (
            "ssl" in parsed.query or "sslmode" in parsed.query):
        connect_args["ssl"] = False
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_recycle=1800,
        pool_use_lifo=True,  # the most recently used connection: warm, statements prepared
        connect_args=connect_args,
        hide_parameters=True,  # an error's text must not carry user data into the logs
    )


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside `conn`'s transaction.

    The hot paths (idempotency, outbox, saga bookkeeping, the checkout's steps) run
    their statements on asyncpg directly: a prepared asyncpg statement costs about a
    quarter of a SQLAlchemy Core one. They share the caller's transaction, so what
    they write commits or rolls back with everything else. SQLAlchemy begins its
    transaction lazily, at the first statement; when that has not happened yet it
    is begun here, so a raw statement can never run outside it (on a connection
    not yet in a transaction one is begun, as SQLAlchemy's autobegin would).
    """
    if not conn.in_transaction():
        await conn.begin()  # as SQLAlchemy's own first statement would (autobegin)
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    if adapted._transaction is None:  # type: ignore[union-attr]
        try:
            await adapted._start_transaction()  # type: ignore[union-attr]
        except BaseException:
            # a BEGIN cut short (a cancelled request) leaves asyncpg believing a
            # transaction is open: that connection must never serve anyone again
            await conn.invalidate()
            raise
    return adapted._connection  # type: ignore[union-attr]


def renumbered(statement: str, first: int) -> str:
    """`statement` (the platform's own SQL: no `$` inside its literals) with its
    parameters `$1`, `$2`… renumbered from `$first`, to be composed into a larger one."""
    return re.sub(r"\$(\d+)", lambda found: f"${int(found[1]) + first - 1}", statement)


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as `width` column lists: the array parameters of an `unnest(...)` statement
    that writes many rows in one round trip (empty lists for no rows)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection whose statements each commit on their own.

    For bookkeeping that is one statement (a saga's step record and state change,
    written together by one statement): one round trip, no BEGIN and COMMIT.
    """
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        try:
            yield raw.dbapi_connection._connection  # type: ignore[union-attr]
        except asyncio.CancelledError:
            await conn.invalidate()  # a statement cut short: not for the next user
            raise


async def migrate(engine: AsyncEngine, service_migrations: Path | None) -> None:
    """Bring the platform tables and then the service's tables to their newest revision."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        try:
            await conn.commit()
            await conn.run_sync(_upgrade, PLATFORM_MIGRATIONS, PLATFORM_VERSION_TABLE)
            if service_migrations is not None:
                await conn.run_sync(_upgrade, service_migrations, SERVICE_VERSION_TABLE)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
            await conn.commit()


def _upgrade(connection: Connection, location: Path, version_table: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    command.upgrade(config, "head")
    connection.commit()


def run_alembic_env() -> None:
    """The body of every `migrations/env.py`: run on the connection the platform passes in.

    A service's env.py is two lines (import and call), so no service copies
    migration plumbing.
    """
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through msa.db.migrate(), not the alembic CLI")
    context.configure(
        connection=connection,
        version_table=config.attributes.get("version_table", SERVICE_VERSION_TABLE),
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def ping(engine: AsyncEngine, timeout: float = 1.0) -> bool:
    """True when the database answers within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction: committed on success, rolled back on error."""
    async with engine.begin() as conn:
        yield conn


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction in which every query sees the same moment (REPEATABLE READ).

    For reads made of several queries that must agree with each other, such as the
    audit views the invariant checkers use: under READ COMMITTED a commit between
    two queries (a reservation expiring) would show half of its effect.
    """
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ",
                                            postgresql_readonly=True)
        async with conn.begin():
            yield conn


def database_unreachable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says the database could not be reached or was lost."""
    import asyncpg
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return _in_chain(exc, lambda e: isinstance(
        e, OSError | PoolTimeout | asyncpg.PostgresConnectionError | asyncpg.InterfaceError
        | asyncpg.exceptions.OperatorInterventionError) or (
        isinstance(e, DBAPIError) and bool(e.connection_invalidated)))


def transaction_aborted(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is PostgreSQL rolling a transaction back to break
    a deadlock or a serialization conflict (SQLSTATE class 40): nothing of it was
    written, and the same request run again may well succeed."""
    import asyncpg

    return _in_chain(exc, lambda e: isinstance(e, asyncpg.TransactionRollbackError))


def _in_chain(exc: BaseException | None, found: Callable[[BaseException], bool]) -> bool:
    """Whether `exc` or what caused it (its `orig`, cause or context) is `found`."""
    seen = 0
    while exc is not None and seen < 10:
        if found(exc):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False
