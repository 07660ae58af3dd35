"""No SQL parameters, emails or tokens in the logs; log files are their owner's only."""

from __future__ import annotations

import io
import json
import logging
import stat
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from msa.db import asyncpg_url, create_engine
from msa.logs import JsonFormatter, configure_logging
from msa.problems import install_problem_handlers
from msa.tools.runner.processes import open_log

EMAIL = "jane.doe@example.com"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def captured():
    """The platform's own log pipeline (handler, filter, JSON), writing to a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("shelf", "shelf-0", "1.0")
    handler = root.handlers[0]
    buffer = io.StringIO()
    handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def failing_app(engine) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/users")
    async def add() -> None:
        async with engine.begin() as conn:  # no such table: a server fault, logged
            await conn.execute(sa.text("INSERT INTO missing VALUES (:email, :token)"),
                               {"email": EMAIL, "token": JWT})

    return app


@pytest.mark.parametrize("platform_engine", [True, False], ids=["msa-engine", "plain-engine"])
async def test_a_failed_statement_logs_its_traceback_without_parameters_or_emails(
        msa_postgres, captured, platform_engine):
    url = msa_postgres.create_database()
    engine = (create_engine(url, pool_size=1) if platform_engine  # parameters hidden at source
              else create_async_engine(asyncpg_url(url)))  # only the log filter stands guard
    try:
        transport = httpx.ASGITransport(app=failing_app(engine), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/users")).status_code == 500
    finally:
        await engine.dispose()
    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    failure = next(r for r in records if r["msg"].startswith("unhandled error"))
    assert "UndefinedTableError" in failure["exc"] and "INSERT INTO missing" in failure["exc"]
    assert EMAIL not in captured.getvalue() and "eyJ" not in captured.getvalue()


def test_messages_and_extra_fields_are_redacted(captured):
    log = logging.getLogger("shelf")
    log.warning("login failed for %s with Bearer %s", EMAIL, JWT, extra={"who": EMAIL})
    log.warning("refresh with Authorization: Bearer %s", "opaque-refresh-token-123")
    log.info("duplicate: Key (email)=(%s) already exists", "x@y.org")
    record, opaque, duplicate = (json.loads(line) for line in captured.getvalue().splitlines())
    assert record["msg"] == "login failed for [email] with Bearer [jwt]"
    assert opaque["msg"] == "refresh with Authorization: Bearer [redacted]"
    assert record["who"] == "[email]"
    assert duplicate["msg"] == "duplicate: Key (email)=(redacted) already exists"


def test_the_formatter_still_formats_an_unfiltered_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    assert json.loads(JsonFormatter().format(record))["msg"] == "plain text"


def test_a_log_file_is_created_and_kept_mode_0600(tmp_path: Path):
    old = tmp_path / "logs" / "orders-0.log"
    old.parent.mkdir()
    old.write_text("from an older run\n")
    old.chmod(0o644)
    for path in (old, tmp_path / "logs" / "new.log"):
        with open(open_log(path), "a") as log:
            log.write("line\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
