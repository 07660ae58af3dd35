"""Sessions: a short-lived access token plus a refresh token rotated on every use.

A login starts a family of refresh tokens. Refreshing spends the token presented
and hands out the next one of the family with a fresh access token (carrying the
user's role as it is now). A token spent twice means someone holds a copy, so the
whole family is revoked and both holders must sign in again (OAuth 2.0 Security BCP,
RFC 9700 §4.14.2). Logging out revokes the family too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncConnection

from identity import adapters
from identity.contracts import AUDIENCE, ISSUER
from identity.domain import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    SESSION_TTL,
    new_refresh_token,
    refresh_token_hash,
)
from msa import KeyRing, Runtime, Unauthorized, issue_access_token

NOT_VALID = "the refresh token is not valid: sign in again"
_log = logging.getLogger("identity.sessions")


async def start(runtime: Runtime, user: dict[str, Any]) -> dict[str, Any]:
    """A new session for a user who just proved who they are."""
    session_end = datetime.now(UTC) + timedelta(seconds=SESSION_TTL)
    async with runtime.db.begin() as conn:
        refresh = await _next_token(conn, uuid.uuid4(), user["id"], session_end)
    return _tokens(runtime, user, refresh)


async def refresh(runtime: Runtime, token: str) -> dict[str, Any]:
    """Spend `token` for new tokens; 401 (and the family revoked, if spent before) otherwise."""
    digest = refresh_token_hash(token)
    async with runtime.db.begin() as conn:
        spent = await adapters.use_refresh_token(conn, digest)
        user = await adapters.get_user(conn, spent["user_id"]) if spent else None
        if spent is not None and user is not None:
            refreshed = await _next_token(conn, spent["family_id"], user["id"],
                                          spent["session_expires_at"])
    if spent is None or user is None:
        await _refuse(runtime, digest)
    return _tokens(runtime, user, refreshed)


async def logout(runtime: Runtime, token: str) -> None:
    """End the session `token` belongs to (nothing happens for an unknown token)."""
    async with runtime.db.begin() as conn:
        known = await adapters.find_refresh_token(conn, refresh_token_hash(token))
        if known is not None:
            await adapters.revoke_family(conn, known["family_id"])


async def _refuse(runtime: Runtime, digest: str) -> NoReturn:
    async with runtime.db.begin() as conn:
        known = await adapters.find_refresh_token(conn, digest)
        if known and known["used_at"] is not None and known["revoked_at"] is None:
            revoked = await adapters.revoke_family(conn, known["family_id"])
            _log.warning("a spent refresh token was presented again; revoked its family",
                         extra={"family_id": str(known["family_id"]), "revoked": revoked})
    raise Unauthorized(NOT_VALID)


async def _next_token(conn: AsyncConnection, family_id: uuid.UUID, user_id: uuid.UUID,
                      session_end: datetime) -> tuple[str, int]:
    now = datetime.now(UTC)
    expires = min(now + timedelta(seconds=REFRESH_TOKEN_TTL), session_end)
    token = new_refresh_token()
    await adapters.insert_refresh_token(conn, family_id=family_id, user_id=user_id,
                                        token_hash=refresh_token_hash(token), expires_at=expires,
                                        session_expires_at=session_end)
    return token, max(1, int((expires - now).total_seconds()))


def _tokens(runtime: Runtime, user: dict[str, Any], refresh: tuple[str, int]) -> dict[str, Any]:
    ring: KeyRing = runtime.state["key_ring"]
    access = issue_access_token(ring.signing_key, sub=str(user["id"]), role=user["role"],
                                issuer=ISSUER, audience=AUDIENCE, ttl=ACCESS_TOKEN_TTL)
    return {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL,
            "refresh_token": refresh[0], "refresh_expires_in": refresh[1]}
