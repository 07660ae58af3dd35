"""The running system's log files are 0600 and a failure's record holds no email."""

from __future__ import annotations

import stat
import uuid

import pytest

from tests.shop import PASSWORD, Bookstore, operator_call

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


async def test_log_files_are_private_and_a_failed_registration_logs_no_email(
        bookstore: Bookstore):
    shopper = await bookstore.customer()  # signs in: its email went through identity
    email = f"failing-{uuid.uuid4().hex[:8]}@example.com"
    identity = bookstore.runner.addresses["identity"][0]
    await operator_call(bookstore, identity, "POST", "/internal/faults",
                        {"points": "fail:idempotency.after_commit"})
    try:
        failed = await bookstore.http.post("/api/identity/register",
                                           json={"email": email, "password": PASSWORD},
                                           headers={"Idempotency-Key": uuid.uuid4().hex})
    finally:
        await operator_call(bookstore, identity, "DELETE", "/internal/faults")
    assert failed.status_code == 500, failed.text
    again = await bookstore.http.post("/api/identity/register",  # a unique key refuses it
                                      json={"email": shopper.email, "password": PASSWORD},
                                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert again.status_code == 409, again.text
    logs = sorted((bookstore.runner.data_dir / "logs").glob("*.log"))
    assert any(path.name.startswith("identity") for path in logs)
    for path in logs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    identity_log = "".join(path.read_text(errors="replace") for path in logs
                           if path.name.startswith("identity"))
    assert "InjectedFault" in identity_log  # the failure's record is there...
    everything = "".join(path.read_text(errors="replace") for path in logs)
    assert email not in everything and shopper.email not in everything  # ...without the email
