"""One database and one role per service, with passwords kept in the data folder.

Each service's role owns its database (and the database's `public` schema) and is
the only role besides the superuser allowed to connect to it, so one service's
credentials cannot open another service's data.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msa.errors import ConfigError, MsaError
from msa.tools.runner.postgres import SUPERUSER, PostgresServer

RESERVED_NAMES = frozenset({"postgres", "template0", "template1", "public", "pg_signal_backend"})


@dataclass
class DatabaseSecrets:
    """The superuser's and each service role's password (`secrets/postgres.json`)."""

    superuser_password: str
    roles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path, services: Iterable[str]) -> DatabaseSecrets:
        """Read the file, add passwords for new services, and save it with mode 0600."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            found = cls(superuser_password=raw["superuser_password"], roles=dict(raw["roles"]))
        except FileNotFoundError:
            found = cls(superuser_password=new_password())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MsaError(f"{path}: unreadable database secrets ({exc})") from None
        missing = [name for name in services if name not in found.roles]
        for name in missing:
            found.roles[name] = new_password()
        if missing or not path.exists():
            found.save(path)
        return found

    def save(self, path: Path) -> None:
        """Write atomically, readable by the owner only."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"superuser_password": self.superuser_password, "roles": self.roles},
                      out, indent=2)
        os.replace(temporary, path)


def new_password() -> str:
    """A random password that needs no escaping in a URL or SQL literal."""
    return secrets.token_urlsafe(24)


def service_urls(server: PostgresServer, found: DatabaseSecrets) -> dict[str, str]:
    """service → `postgresql://role:password@127.0.0.1:port/db` for every provisioned role."""
    return {name: server.url(name, password, name) for name, password in found.roles.items()}


async def provision(server: PostgresServer, found: DatabaseSecrets, services: list[str]) -> None:
    """Create (or repair) each service's role and database; safe to run again."""
    for name in services:
        if name in RESERVED_NAMES:
            raise ConfigError(f"service name {name!r} is reserved by PostgreSQL")
    conn = await superuser_connection(server)
    try:
        for name in ("postgres", "template1"):
            await conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {ident(name)} FROM PUBLIC")
    finally:
        await conn.close()
    # One connection per service, all at once: CREATE DATABASE dominates a first start.
    await asyncio.gather(*(_provision_one(server, name, found.roles[name]) for name in services))


async def ensure_database(conn: Any, name: str, password: str) -> bool:
    """Ensure role `name` (LOGIN, `password`) owns database `name` alone; True if created."""
    role = ident(name)
    role_exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
    verb = "ALTER" if role_exists else "CREATE"
    await conn.execute(
        f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
        f"PASSWORD {literal(password)}"
    )
    db_exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if db_exists:
        await conn.execute(f"ALTER DATABASE {role} OWNER TO {role}")
    else:
        await conn.execute(f"CREATE DATABASE {role} OWNER {role} ENCODING 'UTF8'")
    await conn.execute(f"REVOKE ALL ON DATABASE {role} FROM PUBLIC")
    await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {role} TO {role}")
    return not db_exists


async def superuser_connection(server: PostgresServer, database: str = "postgres") -> Any:
    """An asyncpg connection as the superuser over the Unix socket (trusted locally)."""
    import asyncpg

    return await asyncpg.connect(
        host=str(server.socket_dir), port=server.port, user=SUPERUSER, database=database,
        timeout=10,
    )


def ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


async def _provision_one(server: PostgresServer, name: str, password: str) -> None:
    conn = await superuser_connection(server)
    try:
        created = await ensure_database(conn, name, password)
    finally:
        await conn.close()
    if created:
        await _give_public_schema(server, name)


async def _give_public_schema(server: PostgresServer, name: str) -> None:
    conn = await superuser_connection(server, database=name)
    try:
        await conn.execute(f"ALTER SCHEMA public OWNER TO {ident(name)}")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()
