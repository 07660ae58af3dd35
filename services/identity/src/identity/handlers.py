"""Identity's use cases: registering, signing in, making administrators."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from identity import adapters, sessions
from identity.domain import (
    ADMIN,
    CUSTOMER,
    check_email,
    check_password,
    decoy_hash,
    hash_password,
    needs_rehash,
    normalise_email,
    scrypt_cost,
    verify_password,
)
from identity.login_guard import LoginGuard, TooManyLogins
from msa import (
    ConfigError,
    Conflict,
    KeyRing,
    NotFound,
    Runtime,
    Unauthorized,
    Unprocessable,
    key_directory,
)

WRONG_CREDENTIALS = "wrong email or password"


def key_ring(runtime: Runtime) -> KeyRing:
    """The signing keys, re-read when their folder changes (a rotation needs no restart)."""
    ring: KeyRing = runtime.state["key_ring"]
    return ring


async def load_signing_keys(runtime: Runtime) -> None:
    """At start: hold the signing keys under MSA_DATA_DIR, creating the first one.

    Also reads the password work factor, `IDENTITY_SCRYPT_LOG2N` (default 15; a
    test system may lower it to register many users quickly, production cannot).
    """
    try:
        runtime.state["scrypt_n"] = scrypt_cost(
            int(os.environ.get("IDENTITY_SCRYPT_LOG2N", "15")),
            production=runtime.settings.env == "production")
        runtime.state["login_guard"] = LoginGuard.from_environment()
    except ValueError as exc:
        raise ConfigError(f"identity: {exc}") from None
    if not runtime.settings.data_dir:
        raise ConfigError("identity: setting MSA_DATA_DIR is missing (signing keys live there)")
    runtime.state["key_ring"] = KeyRing(key_directory(runtime.settings.data_dir))


def login_guard(runtime: Runtime) -> LoginGuard:
    guard: LoginGuard = runtime.state["login_guard"]
    return guard


async def hash_new_password(runtime: Runtime, password: str, address: str = "") -> str:
    """Hash off the event loop: scrypt takes ~0.3 s of CPU and releases the GIL.
    429 at once when the process, or the client `address`, already hashes as many as
    it may."""
    with login_guard(runtime).slots.take(address):
        return await asyncio.to_thread(hash_password, password, runtime.state["scrypt_n"])


async def register(conn: AsyncConnection, email: str, password_hash: str,
                   role: str = CUSTOMER) -> dict[str, Any]:
    """Create a user; 409 if the email is taken."""
    user = await adapters.insert_user(conn, email, password_hash, role)
    if user is None:
        raise Conflict("this email is already registered")
    return user


async def confirm_replayed_registration(runtime: Runtime, email: str, password: str,
                                        address: str = "") -> None:
    """A repeated registration (same key, same email) is answered with the stored 201
    only if its password is the account's: otherwise it would claim an account was made
    with a password that never was. 409 if not."""
    async with runtime.db.connect() as conn:
        user = await adapters.get_by_email(conn, normalise_email(email))
    if user is not None:
        with login_guard(runtime).slots.take(address):
            if await asyncio.to_thread(verify_password, password, user["password_hash"]):
                return
    raise Conflict("this Idempotency-Key already registered this email with another "
                   "password; nothing was changed", title="Idempotency-Key reused")


async def login(runtime: Runtime, email: str, password: str,
                address: str = "") -> dict[str, Any]:
    """A new session (access and refresh token) for valid credentials; the same 401 for
    every kind of wrong; 429 while the account or the client `address` must wait after
    failures, or when too many hashes are in flight (`identity.login_guard`)."""
    guard = login_guard(runtime)
    guard.check(email, address)
    with guard.slots.take(address):
        async with runtime.db.connect() as conn:
            user = await adapters.get_by_email(conn, email)
        cost = runtime.state["scrypt_n"]
        stored = user["password_hash"] if user else await asyncio.to_thread(decoy_hash, cost)
        matches = await asyncio.to_thread(verify_password, password, stored)
    if user is None or not matches:
        guard.failed(email, address)
        raise Unauthorized(WRONG_CREDENTIALS)
    guard.succeeded(email, address)
    if needs_rehash(stored, cost):
        with contextlib.suppress(TooManyLogins):  # busy: upgrade at a later sign-in
            upgraded = await hash_new_password(runtime, password)
            async with runtime.db.begin() as conn:
                await adapters.set_password_hash(conn, user["id"], upgraded)
    return await sessions.start(runtime, user)


async def get_user(runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    async with runtime.db.connect() as conn:
        user = await adapters.get_user(conn, user_id)
    if user is None:
        raise NotFound("this user does not exist")
    return user


async def create_admin(engine: AsyncEngine, email: str, password: str) -> dict[str, Any]:
    """Create an administrator (for `msa admin create` and test tools); 409 if taken.

    The password always gets the production work factor, whatever this process uses."""
    try:
        email, password = check_email(email), check_password(password)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    password_hash = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as conn:
        return await register(conn, email, password_hash, ADMIN)
