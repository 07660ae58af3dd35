"""Regression tests for what chaos runs found in the platform."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from msa.db import database_unreachable as _unreachable


def wrapped(cause: BaseException) -> DBAPIError:
    """An error as SQLAlchemy raises it: the driver's error as `orig`, chained."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise DBAPIError("INSERT INTO msa_inbox ...", {}, exc) from exc
    except DBAPIError as error:
        return error


@pytest.mark.parametrize("cause", [
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.InterfaceError("connection is closed"),
    ConnectionError("unexpected connection_lost() call"),
    ConnectionResetError(104, "Connection reset by peer"),
])
def test_a_database_that_is_restarting_is_not_the_messages_fault(cause: BaseException) -> None:
    # Found by `msa chaos --profile long --seed 1`: an event was dead-lettered after five
    # tries in six seconds while PostgreSQL was in crash recovery.
    assert _unreachable(wrapped(cause))
    assert _unreachable(cause)


def test_a_handler_that_fails_by_itself_still_goes_to_the_dead_letters() -> None:
    assert not _unreachable(ValueError("the event makes no sense"))
    assert not _unreachable(wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")))
