"""The JWT matrix: every public operation refuses every kind of bad access token with 401.

Operations come from the services' OpenAPI documents (`tests.api_surface`), so a new
route is covered the day it is added. Bad tokens are refused whatever the route;
no token at all is refused exactly where the document says a user is needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from identity.contracts import AUDIENCE, ISSUER
from msa.auth import MAX_ACCESS_TTL, SigningKey, generate_signing_key, load_or_create_signing_keys
from tests.api_surface import Operation, operations
from tests.shop import PASSWORD, Bookstore

PROBLEM = "application/problem+json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(uuid.uuid4()), "role": "admin", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex, **changes}


def _signed(key: SigningKey, claims: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(claims, key.private_key, algorithm="EdDSA",
                      headers={"kid": kid or key.kid, "typ": "at+jwt"})


def _hs256(secret: bytes, kid: str) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0xFF
    return f"{head}.{body}.{_b64(bytes(raw))}"


def _public_pem(key: SigningKey) -> bytes:
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


BAD_TOKENS: dict[str, Callable[[SigningKey], str]] = {
    "alg none": lambda key: jwt.encode(_claims(), None, algorithm="none",
                                       headers={"kid": key.kid, "typ": "at+jwt"}),
    "HS256 signed with the raw public key": lambda key: _hs256(
        key.private_key.public_key().public_bytes_raw(), key.kid),
    "HS256 signed with the PEM public key": lambda key: _hs256(_public_pem(key), key.kid),
    "bad signature": lambda key: _tampered(_signed(key, _claims())),
    "expired": lambda key: _signed(key, _claims(iat=int(time.time()) - 2000,
                                                nbf=int(time.time()) - 2000,
                                                exp=int(time.time()) - 1000)),
    "nbf in the future": lambda key: _signed(key, _claims(nbf=int(time.time()) + 1000)),
    "lives longer than 15 minutes": lambda key: _signed(key, _claims(
        iat=int(time.time()) - 60, exp=int(time.time()) + MAX_ACCESS_TTL)),
    "wrong audience": lambda key: _signed(key, _claims(aud="another-shop")),
    "wrong issuer": lambda key: _signed(key, _claims(iss="evil-identity")),
    "unknown kid": lambda key: _signed(generate_signing_key(), _claims(), kid="no-such-key"),
    "no subject": lambda key: _signed(key, {k: v for k, v in _claims().items() if k != "sub"}),
    "not a token": lambda key: "eyJhbGciOiJFZERTQSJ9.e30.",
}


def identity_key(bookstore: Bookstore) -> SigningKey:
    """The key identity signs with: forged tokens differ from real ones in one thing only."""
    return load_or_create_signing_keys(bookstore.runner.data_dir)[-1]


async def call(bookstore: Bookstore, op: Operation, token: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {} if op.method in ("POST", "PUT", "PATCH") else None
    return await bookstore.http.request(op.method, op.url(), json=body, headers=headers)


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_every_public_operation_refuses_a_bad_token(bookstore: Bookstore, case: str):
    token = BAD_TOKENS[case](identity_key(bookstore))
    wrong = []
    for op in await operations(bookstore):
        answer = await call(bookstore, op, token)
        if answer.status_code != 401 or not answer.headers["content-type"].startswith(PROBLEM):
            wrong.append(f"{op}: {answer.status_code} {answer.text[:120]}")
    assert not wrong, "\n".join(wrong)


async def test_a_token_forged_the_same_way_but_valid_is_accepted(bookstore: Bookstore):
    """The matrix's control: each bad token differs from this one in one thing only."""
    token = _signed(identity_key(bookstore), _claims(role="customer"))
    answer = await bookstore.http.get("/api/orders", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


async def test_without_a_token_exactly_the_operations_needing_a_user_refuse(
        bookstore: Bookstore):
    wrong = []
    for op in await operations(bookstore):
        answer = await call(bookstore, op, None)
        refused = answer.status_code == 401
        if refused != op.needs_user or answer.status_code >= 500:
            wrong.append(f"{op} (needs a user: {op.needs_user}): {answer.status_code}")
    assert not wrong, "\n".join(wrong)


async def test_a_spent_or_revoked_refresh_token_is_refused(bookstore: Bookstore):
    shopper = await bookstore.customer()
    login = await bookstore.http.post("/api/identity/login",
                                      json={"email": shopper.email, "password": PASSWORD})
    first = login.json()["refresh_token"]
    renewed = await bookstore.http.post("/api/identity/refresh", json={"refresh_token": first})
    assert renewed.status_code == 200, renewed.text
    again = await bookstore.http.post("/api/identity/refresh", json={"refresh_token": first})
    assert again.status_code == 401 and again.headers["content-type"].startswith(PROBLEM)
    revoked = await bookstore.http.post("/api/identity/refresh",
                                        json={"refresh_token": renewed.json()["refresh_token"]})
    assert revoked.status_code == 401, "reusing a spent token revokes the whole family"
