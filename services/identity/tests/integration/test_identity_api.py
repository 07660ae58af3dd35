"""Identity over HTTP, on real PostgreSQL: registering, signing in, keys, administrators."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from identity.contracts import AUDIENCE, ISSUER
from identity.handlers import create_admin
from msa.auth import TokenVerifier
from msa.errors import ConfigError
from msa.tools.apptest import caller_auth, serve_in_process
from msa.tools.testing import PostgresForTests

PASSWORD = "correct horse 7"


@pytest.fixture(scope="module")
async def identity(msa_postgres: PostgresForTests, msa_nats: str,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = msa_postgres.create_database()
    data_dir = tmp_path_factory.mktemp("identity-data")
    async with serve_in_process("identity", database_url=url, nats_url=msa_nats,
                                data_dir=str(data_dir)) as http:
        http.database_url = url  # type: ignore[attr-defined]
        http.data_dir = data_dir  # type: ignore[attr-defined]
        yield http


def _email() -> str:
    return f"reader-{uuid.uuid4().hex[:8]}@Example.com"


async def register(http: httpx.AsyncClient, email: str, password: str = PASSWORD,
                   key: str | None = None, path: str = "/api/identity/register",
                   **extra: Any) -> httpx.Response:
    return await http.post(path, json={"email": email, "password": password, **extra},
                           headers={"Idempotency-Key": key or uuid.uuid4().hex})


async def make_admin(http: httpx.AsyncClient, email: str) -> httpx.Response:
    """The operator's test route (the gateway, or any other caller, gets 403)."""
    return await http.post("/internal/identity/admins",
                           json={"email": email, "password": PASSWORD},
                           headers={"Idempotency-Key": uuid.uuid4().hex},
                           auth=caller_auth(http.app, "operator"))  # type: ignore[attr-defined]


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/api/identity/login", json={"email": email, "password": password})


def verifier(http: httpx.AsyncClient) -> TokenVerifier:
    async def fetch() -> dict[str, Any]:
        return (await http.get("/internal/identity/jwks")).json()

    return TokenVerifier(fetch, issuer=ISSUER, audience=AUDIENCE)


async def test_a_new_customer_registers_signs_in_and_sees_themselves(
        identity: httpx.AsyncClient) -> None:
    email = _email()
    created = await register(identity, email)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user == {"id": user["id"], "email": email.lower(), "role": "customer"}

    signed_in = await login(identity, email.upper())
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert signed_in.headers["cache-control"] == "no-store"
    claims = await verifier(identity).verify(body["access_token"])
    assert (str(claims.user_id), claims.role) == (user["id"], "customer")

    me = await identity.get("/api/identity/me", headers={"X-User-Id": user["id"]})
    assert me.json() == user


async def test_a_taken_email_is_a_conflict_but_a_repeated_request_is_replayed(
        identity: httpx.AsyncClient) -> None:
    email, key = _email(), uuid.uuid4().hex
    first = await register(identity, email, key=key)
    again = await register(identity, email, key=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    taken = await register(identity, email.upper())
    assert taken.status_code == 409
    assert taken.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("body", [
    {"email": "not-an-email", "password": PASSWORD},
    {"email": "weak@example.com", "password": "short"},
    {"email": "weak@example.com", "password": "onlyletters"},
    {"email": "admin@example.com", "password": PASSWORD, "role": "admin"},
    {"email": "nopass@example.com"},
])
async def test_bad_input_is_refused_with_422_and_nothing_is_written(
        identity: httpx.AsyncClient, body: dict[str, Any]) -> None:
    before = (await identity.get("/internal/identity/audit")).json()
    answer = await identity.post("/api/identity/register", json=body,
                                 headers={"Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await identity.get("/internal/identity/audit")).json() == before


async def test_registering_requires_an_idempotency_key(identity: httpx.AsyncClient) -> None:
    answer = await identity.post("/api/identity/register",
                                 json={"email": _email(), "password": PASSWORD})
    assert answer.status_code == 400


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
        identity: httpx.AsyncClient) -> None:
    email = _email()
    await register(identity, email)
    wrong = await login(identity, email, "correct horse 8")
    unknown = await login(identity, _email())
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


async def test_me_needs_a_signed_in_user(identity: httpx.AsyncClient) -> None:
    assert (await identity.get("/api/identity/me")).status_code == 401
    stranger = await identity.get("/api/identity/me", headers={"X-User-Id": str(uuid.uuid4())})
    assert stranger.status_code == 404


async def test_the_jwks_is_public_keys_only_on_both_routes(identity: httpx.AsyncClient) -> None:
    public = (await identity.get("/api/identity/jwks")).json()
    assert public == (await identity.get("/internal/identity/jwks")).json()
    (key,) = public["keys"]
    assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and "d" not in key


async def test_an_admin_made_by_the_internal_route_or_the_handler_gets_an_admin_token(
        identity: httpx.AsyncClient) -> None:
    by_route = await make_admin(identity, _email())
    assert by_route.status_code == 201 and by_route.json()["role"] == "admin"
    as_gateway = await identity.post(
        "/internal/identity/admins", json={"email": _email(), "password": PASSWORD},
        headers={"Idempotency-Key": uuid.uuid4().hex},
        auth=caller_auth(identity.app, "gateway"))  # type: ignore[attr-defined]
    assert as_gateway.status_code == 403

    from msa.db import create_engine

    engine = create_engine(identity.database_url)  # type: ignore[attr-defined]
    try:
        email = _email()
        made = await create_admin(engine, email, PASSWORD)
    finally:
        await engine.dispose()
    assert made["role"] == "admin"
    token = (await login(identity, email)).json()["access_token"]
    assert (await verifier(identity).verify(token)).role == "admin"


async def test_in_production_the_admin_route_is_forbidden(
        identity: httpx.AsyncClient, msa_nats: str) -> None:
    async with serve_in_process(
            "identity", database_url=identity.database_url,  # type: ignore[attr-defined]
            nats_url=msa_nats, env="production",
            data_dir=str(identity.data_dir)) as production:  # type: ignore[attr-defined]
        answer = await make_admin(production, _email())
        assert answer.status_code == 403
        assert "msa admin create" in answer.json()["detail"]
        assert (await production.get("/api/identity/jwks")).json() == (
            await identity.get("/api/identity/jwks")).json()


async def test_without_a_data_dir_identity_does_not_start(
        identity: httpx.AsyncClient, msa_nats: str) -> None:
    with pytest.raises(ConfigError, match="MSA_DATA_DIR"):
        async with serve_in_process(
                "identity", database_url=identity.database_url,  # type: ignore[attr-defined]
                nats_url=msa_nats):
            pass


async def _session(identity: httpx.AsyncClient) -> dict[str, Any]:
    email = _email()
    await register(identity, email)
    answer = await login(identity, email)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _refresh(identity: httpx.AsyncClient, token: str) -> httpx.Response:
    return await identity.post("/api/identity/refresh", json={"refresh_token": token})


async def test_a_refresh_token_is_spent_once_for_new_tokens(identity: httpx.AsyncClient) -> None:
    first = await _session(identity)
    assert first["refresh_expires_in"] > 24 * 3600
    renewed = await _refresh(identity, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert renewed.headers["cache-control"] == "no-store"
    second = renewed.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = await verifier(identity).verify(second["access_token"])
    assert (await verifier(identity).verify(first["access_token"])).user_id == claims.user_id
    third = await _refresh(identity, second["refresh_token"])
    assert third.status_code == 200, third.text


async def test_a_spent_refresh_token_presented_again_revokes_the_whole_family(
        identity: httpx.AsyncClient) -> None:
    stolen = (await _session(identity))["refresh_token"]
    legitimate = (await _refresh(identity, stolen)).json()["refresh_token"]
    replayed = await _refresh(identity, stolen)
    assert replayed.status_code == 401
    assert replayed.headers["content-type"] == "application/problem+json"
    assert (await _refresh(identity, legitimate)).status_code == 401
    other = await _session(identity)  # another session of the store is untouched
    assert (await _refresh(identity, other["refresh_token"])).status_code == 200


async def test_logging_out_revokes_the_session_and_can_be_repeated(
        identity: httpx.AsyncClient) -> None:
    session = await _session(identity)
    for _ in range(2):
        out = await identity.post("/api/identity/logout",
                                  json={"refresh_token": session["refresh_token"]})
        assert out.status_code == 204
    assert (await _refresh(identity, session["refresh_token"])).status_code == 401


@pytest.mark.parametrize("body", [{"refresh_token": "not-a-token"}, {"refresh_token": ""},
                                  {"refresh_token": "x", "user_id": str(uuid.uuid4())}, {}])
async def test_bad_refresh_requests_are_refused(identity: httpx.AsyncClient,
                                                body: dict[str, Any]) -> None:
    answer = await identity.post("/api/identity/refresh", json=body)
    assert answer.status_code == (401 if body.get("refresh_token") == "not-a-token" else 422)
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_rotated_key_signs_without_a_restart_and_the_old_one_stays_published(
        identity: httpx.AsyncClient) -> None:
    import asyncio

    import jwt

    from msa.auth import rotate_signing_key

    before = (await _session(identity))["access_token"]
    new_key = rotate_signing_key(identity.data_dir)  # type: ignore[attr-defined]
    await asyncio.sleep(1.1)  # the key ring looks at its folder at most once a second
    after = (await _session(identity))["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_key.kid
    kids = {k["kid"] for k in (await identity.get("/api/identity/jwks")).json()["keys"]}
    assert {jwt.get_unverified_header(before)["kid"], new_key.kid} <= kids
    check = verifier(identity)
    assert (await check.verify(before)).user_id != (await check.verify(after)).user_id


async def test_a_password_hashed_with_older_parameters_is_rehashed_at_login(
        identity: httpx.AsyncClient) -> None:
    from identity import adapters, domain
    from msa.db import create_engine

    email = _email().lower()
    salt = b"0123456789abcdef"
    digest = domain._scrypt(PASSWORD, salt, 2**15, 8, 1)
    old = f"scrypt$n={2**15},r=8,p=1${domain._b64(salt)}${domain._b64(digest)}"
    engine = create_engine(identity.database_url)  # type: ignore[attr-defined]
    try:
        async with engine.begin() as conn:
            await adapters.insert_user(conn, email, old, "customer")
        assert (await login(identity, email)).status_code == 200
        async with engine.connect() as conn:
            stored = (await adapters.get_by_email(conn, email))["password_hash"]
    finally:
        await engine.dispose()
    assert stored.startswith(f"scrypt$n={2**15},r=8,p=3$") and domain.verify_password(
        PASSWORD, stored)
