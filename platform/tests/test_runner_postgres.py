"""The embedded PostgreSQL server and per-service provisioning, on a real server."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from msa.tools.runner.databases import DatabaseSecrets, provision, service_urls
from msa.tools.runner.ports import free_port, port_is_free
from msa.tools.runner.postgres import PostgresServer
from msa.tools.runner.processes import process_alive
from msa.tools.testing import PostgresForTests

SERVICES = ["orders", "wallet"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    root = tmp_path_factory.mktemp("pg")
    pg = PostgresServer(root / "postgres", port=free_port(), log_path=root / "postgres.log")
    secrets = DatabaseSecrets.load_or_create(root / "secrets" / "postgres.json", SERVICES)
    try:
        pg.init(secrets.superuser_password)
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def secrets_path(server: PostgresServer) -> Path:
    return server.pgdata.parent / "secrets" / "postgres.json"


async def test_provisioning_twice_keeps_the_same_working_credentials(
    server: PostgresServer, secrets_path: Path
) -> None:
    first = DatabaseSecrets.load_or_create(secrets_path, SERVICES)
    await provision(server, first, SERVICES)
    again = DatabaseSecrets.load_or_create(secrets_path, SERVICES)
    await provision(server, again, SERVICES)

    assert again == first
    url = service_urls(server, again)["orders"]
    assert url.startswith(f"postgresql://orders:{again.roles['orders']}@127.0.0.1:{server.port}/")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS t (id int)")  # owns its public schema
        assert await conn.fetchval("SELECT current_database()") == "orders"
    finally:
        await conn.close()


async def test_a_service_cannot_open_another_services_database(
    server: PostgresServer, secrets_path: Path
) -> None:
    found = DatabaseSecrets.load_or_create(secrets_path, SERVICES)
    await provision(server, found, SERVICES)
    orders_password = found.roles["orders"]

    for database in ("wallet", "postgres", "template1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(server.url("orders", orders_password, database))
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(server.url("orders", found.roles["wallet"], "wallet"))


def test_a_new_service_gets_a_password_and_old_ones_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "postgres.json"
    before = DatabaseSecrets.load_or_create(path, ["orders"])
    after = DatabaseSecrets.load_or_create(path, ["orders", "ledger"])

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert after.roles["orders"] == before.roles["orders"]
    assert after.roles["ledger"] not in (before.roles["orders"], before.superuser_password)


def test_stop_then_start_keeps_data_and_frees_the_port(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path / "postgres", port=free_port())
    try:
        began = time.monotonic()
        pg.init("s3cret-for-test")
        pg.start()
        assert time.monotonic() - began < 15
        pid = pg.pid()
        assert pid is not None and not port_is_free(pg.port)

        pg.stop()
        assert pg.pid() is None and not process_alive(pid) and port_is_free(pg.port)

        pg.start()  # the same data folder, no second initdb
        assert pg.pid() is not None
    finally:
        pg.stop()
    assert port_is_free(pg.port)


def test_immediate_stop_crashes_and_the_server_recovers(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path / "postgres", port=free_port())
    try:
        pg.init("s3cret-for-test")
        pg.start()
        pg.stop("immediate")
        assert pg.pid() is None
        pg.start()
        assert pg.pid() is not None
    finally:
        pg.stop()


async def test_the_session_fixture_hands_out_isolated_databases(
    msa_postgres: PostgresForTests,
) -> None:
    first = urlsplit(msa_postgres.create_database())
    second = urlsplit(msa_postgres.create_database("second_db"))
    assert (second.username, second.path) == ("second_db", "/second_db")

    conn = await asyncpg.connect(first.geturl())
    try:
        assert await conn.fetchval("SELECT current_database()") == first.username
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(first._replace(path="/second_db").geturl())
