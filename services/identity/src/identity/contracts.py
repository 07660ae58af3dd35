"""Identity's published contract: how its access tokens look and where their keys are.

A verifier (the gateway) imports this module, and nothing else of identity, to
check tokens with `msa.auth.TokenVerifier(fetch, issuer=ISSUER, audience=AUDIENCE)`
against the JWKS served at `INTERNAL_JWKS_PATH`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel

ISSUER = "bookstore-identity"
AUDIENCE = "bookstore"
JWKS_PATH = "/api/identity/jwks"
INTERNAL_JWKS_PATH = "/internal/identity/jwks"
PASSWORD_PATHS = frozenset({"/api/identity/login", "/api/identity/register"})
"""Public routes that hash a password: the gateway limits them per address far lower."""


class User(BaseModel):
    """A user as identity shows it: never the password hash."""

    id: uuid.UUID
    email: str
    role: Literal["customer", "admin"]


class AccessToken(BaseModel):
    """The answer to a login or a refresh (RFC 6749 §5.1): the refresh token is opaque,
    good for one refresh only, and replaced by the one in the answer."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
