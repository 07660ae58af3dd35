"""Identity's HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from identity import adapters, handlers, sessions
from identity.contracts import AccessToken, User
from identity.domain import (
    ADMIN,
    CUSTOMER,
    MAX_EMAIL,
    check_email,
    check_password,
    normalise_email,
)
from msa import (
    CLIENT_ADDRESS_HEADER,
    CurrentUser,
    Forbidden,
    IdempotencyKey,
    OperatorOnly,
    Runtime,
    get_runtime,
    jwks,
    run_idempotent,
    snapshot,
)

router = APIRouter(prefix="/api/identity", tags=["identity"])
internal = APIRouter(prefix="/internal/identity", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_RAW_PASSWORD = 1024  # generous before normalisation; the rules then allow 128
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class NewUser(BaseModel):
    """Who registers: see `identity.domain.check_password` for the password rules."""

    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(max_length=MAX_EMAIL + 20), AfterValidator(check_email)]
    password: Annotated[str, Field(max_length=_RAW_PASSWORD), AfterValidator(check_password)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(min_length=1, max_length=MAX_EMAIL + 20)]
    password: Annotated[str, Field(min_length=1, max_length=_RAW_PASSWORD)]


class RefreshToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


async def _create_user(rt: Runtime, request: Request, key: str, body: NewUser,
                       role: str) -> JSONResponse:
    address = request.headers.get(CLIENT_ADDRESS_HEADER) or ""
    password_hash = await handlers.hash_new_password(rt, body.password, address)
    # Only the email identifies the request: the password must not reach the
    # idempotency table, not even as a fast, unsalted hash of the body. The key is
    # scoped by that email (the caller is anonymous): strangers using the same key for
    # different emails never meet.
    answer = await run_idempotent(
        rt, request, key, {"email": body.email},
        lambda conn: handlers.register(conn, body.email, password_hash, role), status=201,
        principal=f"register:{normalise_email(body.email)}",
    )
    if answer.status_code == 201 and answer.headers.get("Idempotent-Replayed"):
        # a replay says "created": only true for the password this body carries
        await handlers.confirm_replayed_registration(rt, body.email, body.password, address)
    return answer


@router.post("/register", status_code=201, response_model=User)
async def register(body: NewUser, request: Request, key: IdempotencyKey,
                   rt: RuntimeDep) -> JSONResponse:
    return await _create_user(rt, request, key, body, CUSTOMER)


@router.post("/login", response_model=AccessToken)
async def login(body: Credentials, request: Request, rt: RuntimeDep) -> JSONResponse:
    """No Idempotency-Key: a login changes nothing, and each retry may get a new token.
    429 with Retry-After after repeated failures, or when sign-in is busy."""
    address = request.headers.get(CLIENT_ADDRESS_HEADER) or "direct"
    token = await handlers.login(rt, normalise_email(body.email), body.password, address)
    return JSONResponse(token, headers=_NO_STORE)


@router.post("/refresh", response_model=AccessToken)
async def refresh(body: RefreshToken, rt: RuntimeDep) -> JSONResponse:
    """Spend a refresh token for new tokens. No Idempotency-Key: the answer holds secrets
    that must not be stored, so a lost answer means signing in again."""
    return JSONResponse(await sessions.refresh(rt, body.refresh_token), headers=_NO_STORE)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(body: RefreshToken, rt: RuntimeDep) -> Response:
    """End the session of a refresh token (idempotent by nature: no Idempotency-Key).
    Its access tokens stay valid until they expire (15 minutes at most)."""
    await sessions.logout(rt, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=User)
async def me(user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    return await handlers.get_user(rt, user.user_id)


async def public_keys(rt: RuntimeDep) -> JSONResponse:
    """The JWKS: the public halves of the signing keys whose tokens may still be valid."""
    document = jwks(handlers.key_ring(rt).published())
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


router.add_api_route("/jwks", public_keys, methods=["GET"])
internal.add_api_route("/jwks", public_keys, methods=["GET"])


async def _dev_or_test_only(rt: RuntimeDep) -> None:
    if rt.settings.env not in ("dev", "test"):
        raise Forbidden("administrators are created with `msa admin create` in production")


@internal.post("/admins", status_code=201, response_model=User,
               dependencies=[OperatorOnly, Depends(_dev_or_test_only)])
async def create_admin(body: NewUser, request: Request, key: IdempotencyKey,
                       rt: RuntimeDep) -> JSONResponse:
    """For tests and local tools: make an administrator."""
    return await _create_user(rt, request, key, body, ADMIN)


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, int]:
    async with snapshot(rt.db) as conn:
        per_role = await adapters.count_users(conn)
    return {"users": sum(per_role.values()), "admins": per_role.get(ADMIN, 0)}
