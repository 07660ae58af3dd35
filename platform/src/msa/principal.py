"""Who is acting: the user the gateway verified, passed on to services in headers.

The gateway verifies the caller's access token and sets `X-User-Id` and
`X-User-Role` (it drops any such headers a client sends); services trust them only
on calls the gateway made (`msa.service_guard` drops them otherwise). Services read
them with the dependencies below: `CurrentUser` (any signed-in user), `AdminUser`.

Both are security dependencies, so a service's OpenAPI document says which
operations need a user (`security: [{"user": []}]`) and which an administrator
(`[{"user": ["admin"]}]`): tests and API fuzzers read it from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Security
from fastapi.security import APIKeyHeader

from msa.problems import Problem

USER_HEADER = "X-User-Id"
ROLE_HEADER = "X-User-Role"
CLIENT_ADDRESS_HEADER = "X-Client-Address"
"""The public client's network address, as the gateway saw it (set by the gateway only)."""
ROLES = ("customer", "admin")


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_USER = APIKeyHeader(name=USER_HEADER, scheme_name="user", auto_error=False,
                     description="The user the gateway verified (set by the gateway only)")


async def _principal(
    user: Annotated[str | None, Security(_USER)] = None,
    role: Annotated[str | None, Header(alias=ROLE_HEADER, include_in_schema=False)] = None,
) -> Principal:
    if not user:
        raise Unauthorized("sign in first")
    try:
        user_id = uuid.UUID(user)
    except ValueError:
        raise Unauthorized("the acting user is not valid") from None
    return Principal(user_id, role if role in ROLES else "customer")


async def _admin(
    principal: Annotated[Principal, Security(_principal, scopes=["admin"])],
) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this operation is for administrators")
    return principal


CurrentUser = Annotated[Principal, Depends(_principal)]
AdminUser = Annotated[Principal, Depends(_admin)]
