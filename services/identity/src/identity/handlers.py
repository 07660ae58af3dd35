"""Identity's use cases: registering, signing in, making administrators."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from identity import adapters
from identity.contracts import AUDIENCE, ISSUER
from identity.domain import (
    ACCESS_TOKEN_TTL,
    ADMIN,
    CUSTOMER,
    check_email,
    check_password,
    decoy_hash,
    hash_password,
    needs_rehash,
    scrypt_cost,
    verify_password,
)
from msa.auth import SigningKey, issue_access_token, load_or_create_signing_keys
from msa.errors import ConfigError
from msa.principal import Unauthorized
from msa.problems import Conflict, NotFound, Unprocessable
from msa.service import Runtime

WRONG_CREDENTIALS = "wrong email or password"


def signing_keys(runtime: Runtime) -> tuple[SigningKey, ...]:
    """The keys read at start, oldest first: the last one signs (rotating = restarting)."""
    keys: tuple[SigningKey, ...] = runtime.state["signing_keys"]
    return keys


async def load_signing_keys(runtime: Runtime) -> None:
    """At start: read the signing keys under MSA_DATA_DIR, creating the first one.

    Also reads the password work factor, `IDENTITY_SCRYPT_LOG2N` (default 15; a
    test system may lower it to register many users quickly, production cannot).
    """
    try:
        runtime.state["scrypt_n"] = scrypt_cost(
            int(os.environ.get("IDENTITY_SCRYPT_LOG2N", "15")),
            production=runtime.settings.env == "production")
    except ValueError as exc:
        raise ConfigError(f"identity: {exc}") from None
    if not runtime.settings.data_dir:
        raise ConfigError("identity: setting MSA_DATA_DIR is missing (signing keys live there)")
    runtime.state["signing_keys"] = tuple(load_or_create_signing_keys(runtime.settings.data_dir))


async def hash_new_password(runtime: Runtime, password: str) -> str:
    """Hash off the event loop: scrypt takes ~0.1 s of CPU and releases the GIL."""
    return await asyncio.to_thread(hash_password, password, runtime.state["scrypt_n"])


async def register(conn: AsyncConnection, email: str, password_hash: str,
                   role: str = CUSTOMER) -> dict[str, Any]:
    """Create a user; 409 if the email is taken."""
    user = await adapters.insert_user(conn, email, password_hash, role)
    if user is None:
        raise Conflict("this email is already registered")
    return user


async def login(runtime: Runtime, email: str, password: str) -> dict[str, Any]:
    """An access token for valid credentials; the same 401 for every kind of wrong."""
    async with runtime.db.connect() as conn:
        user = await adapters.get_by_email(conn, email)
    cost = runtime.state["scrypt_n"]
    stored = user["password_hash"] if user else await asyncio.to_thread(decoy_hash, cost)
    matches = await asyncio.to_thread(verify_password, password, stored)
    if user is None or not matches:
        raise Unauthorized(WRONG_CREDENTIALS)
    if needs_rehash(stored, cost):
        upgraded = await hash_new_password(runtime, password)
        async with runtime.db.begin() as conn:
            await adapters.set_password_hash(conn, user["id"], upgraded)
    token = issue_access_token(signing_keys(runtime)[-1], sub=str(user["id"]),
                               role=user["role"], issuer=ISSUER, audience=AUDIENCE,
                               ttl=ACCESS_TOKEN_TTL)
    return {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL}


async def get_user(runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    async with runtime.db.connect() as conn:
        user = await adapters.get_user(conn, user_id)
    if user is None:
        raise NotFound("this user does not exist")
    return user


async def create_admin(engine: AsyncEngine, email: str, password: str) -> dict[str, Any]:
    """Create an administrator (for `msa admin create` and test tools); 409 if taken."""
    try:
        email, password = check_email(email), check_password(password)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from None
    password_hash = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as conn:
        return await register(conn, email, password_hash, ADMIN)
