"""Access tokens: keys on disk, issuing, and every way a token must be refused."""

from __future__ import annotations

import base64
import hmac
import json
import stat
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from msa.auth import (
    MAX_ACCESS_TTL,
    TokenVerifier,
    bearer_token,
    generate_signing_key,
    issue_access_token,
    jwks,
    key_directory,
    load_or_create_signing_keys,
    rotate_signing_key,
)
from msa.principal import Unauthorized
from msa.problems import Unavailable

ISSUER, AUDIENCE = "test-identity", "test-audience"
KEY = generate_signing_key()
USER = uuid.uuid4()


def token(**overrides: Any) -> str:
    options: dict[str, Any] = {"sub": str(USER), "role": "customer", "issuer": ISSUER,
                               "audience": AUDIENCE}
    return issue_access_token(overrides.pop("key", KEY), **{**options, **overrides})


class FakeIssuer:
    """Serves a JWKS and counts how often it was asked."""

    def __init__(self, *keys: Any) -> None:
        self.document = jwks(k.public for k in keys)
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return self.document


def verifier(issuer: FakeIssuer | None = None, **options: Any) -> TokenVerifier:
    return TokenVerifier(issuer or FakeIssuer(KEY), issuer=ISSUER, audience=AUDIENCE,
                         **options)


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": str(USER), "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "nbf": now, "exp": now + 60, **extra}


async def test_a_fresh_token_verifies_to_its_user_and_role() -> None:
    claims = await verifier().verify(token(role="admin"))
    assert (claims.user_id, claims.role) == (USER, "admin")
    assert claims.principal.is_admin


def _forged_tokens() -> dict[str, str]:
    public_pem = KEY.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"kid": KEY.kid, "typ": "at+jwt"}
    valid = token()
    head, body, signature = valid.split(".")
    other_body = _b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "role": "admin"})
    return {
        "no token": "",
        "garbage": "not-a-jwt",
        "alg none": f"{_b64({**header, 'alg': 'none'})}.{_b64(_claims())}.",
        "HS256 with the public key": f"{_b64({**header, 'alg': 'HS256'})}.{_b64(_claims())}."
        + _b64(hmac.new(public_pem, b"x", "sha256").digest()),
        "HS256 signed by pyjwt": jwt.encode(_claims(), "k" * 32, algorithm="HS256",
                                            headers=header),
        "bad signature": f"{head}.{other_body}.{signature}",
        "expired": token(now=time.time() - 3600),
        "nbf in the future": token(now=time.time() + 3600),
        "wrong audience": token(audience="someone-else"),
        "wrong issuer": token(issuer="evil-identity"),
        "unknown kid": token(key=generate_signing_key()),
        "not an access token": jwt.encode(_claims(), KEY.private_key, algorithm="EdDSA",
                                          headers={"kid": KEY.kid, "typ": "JWT"}),
        "lives longer than fifteen minutes": jwt.encode(
            _claims(exp=int(time.time()) + MAX_ACCESS_TTL + 1), KEY.private_key,
            algorithm="EdDSA", headers=header),
        "no expiry": jwt.encode({k: v for k, v in _claims().items() if k != "exp"},
                                KEY.private_key, algorithm="EdDSA", headers=header),
        "subject not a user id": token(sub="root"),
        "unknown role": token(role="superuser"),
    }


FORGED = _forged_tokens()


@pytest.mark.parametrize("case", list(FORGED))
async def test_a_bad_token_is_unauthorized_with_a_reason(case: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        await verifier(refetch_interval=0).verify(FORGED[case])
    assert raised.value.status == 401 and raised.value.detail


async def test_an_expired_token_says_so() -> None:
    with pytest.raises(Unauthorized, match="expired"):
        await verifier().verify(FORGED["expired"])


def test_a_token_cannot_live_longer_than_fifteen_minutes() -> None:
    with pytest.raises(ValueError):
        token(ttl=901)


async def test_a_token_signed_to_live_longer_than_fifteen_minutes_is_refused() -> None:
    now = int(time.time())
    header = {"kid": KEY.kid, "typ": "at+jwt"}
    longest = jwt.encode(_claims(iat=now, exp=now + MAX_ACCESS_TTL), KEY.private_key,
                         algorithm="EdDSA", headers=header)
    assert (await verifier().verify(longest)).user_id == USER
    too_long = jwt.encode(_claims(iat=now - 60, exp=now + MAX_ACCESS_TTL), KEY.private_key,
                          algorithm="EdDSA", headers=header)
    with pytest.raises(Unauthorized, match="lives longer than 900 seconds"):
        await verifier().verify(too_long)


async def test_the_jwks_is_cached_and_refetched_once_for_an_unknown_kid() -> None:
    issuer = FakeIssuer(KEY)
    check = verifier(issuer, refetch_interval=0)
    await check.verify(token())
    await check.verify(token())
    assert issuer.fetches == 1
    newer = generate_signing_key()
    issuer.document = jwks([KEY.public, newer.public])
    assert (await check.verify(token(key=newer))).user_id == USER
    assert issuer.fetches == 2


async def test_unknown_kids_do_not_hammer_the_issuer() -> None:
    issuer = FakeIssuer(KEY)
    check = verifier(issuer, refetch_interval=60)
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown key"):
            await check.verify(token(key=generate_signing_key()))
    assert issuer.fetches == 1


async def test_without_any_keys_an_unreachable_issuer_is_unavailable_not_unauthorized() -> None:
    async def down() -> dict[str, Any]:
        raise ConnectionError("identity is down")

    with pytest.raises(Unavailable):
        await TokenVerifier(down, issuer=ISSUER, audience=AUDIENCE).verify(token())


async def test_held_keys_keep_verifying_while_the_issuer_is_down() -> None:
    issuer = FakeIssuer(KEY)
    check = verifier(issuer, cache_seconds=0, refetch_interval=0)
    await check.verify(token())

    async def down() -> dict[str, Any]:
        raise ConnectionError("identity is down")

    check._fetch = down
    assert (await check.verify(token())).user_id == USER


def test_keys_are_created_once_with_private_permissions(tmp_path: Any) -> None:
    first = load_or_create_signing_keys(tmp_path)
    again = load_or_create_signing_keys(tmp_path)
    assert [k.kid for k in first] == [k.kid for k in again] and len(first) == 1
    folder = key_directory(tmp_path)
    assert folder == tmp_path / "secrets" / "identity"
    pem = folder / f"{first[0].kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


async def test_after_rotation_the_newest_key_signs_and_the_old_one_still_verifies(
        tmp_path: Any) -> None:
    old = load_or_create_signing_keys(tmp_path)[-1]
    rotate_signing_key(tmp_path)
    keys = load_or_create_signing_keys(tmp_path)
    assert len(keys) == 2 and keys[0].kid == old.kid and keys[-1].kid != old.kid
    check = verifier(FakeIssuer(*keys))
    for key in keys:
        assert (await check.verify(token(key=key))).user_id == USER


def test_the_jwks_holds_only_public_ed25519_keys() -> None:
    (entry,) = jwks([KEY.public])["keys"]
    assert entry == {"kty": "OKP", "crv": "Ed25519", "x": entry["x"], "kid": KEY.kid,
                     "alg": "EdDSA", "use": "sig"}
    assert "d" not in entry


@pytest.mark.parametrize(("header", "expected"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
    (None, None),
])
def test_the_bearer_token_is_read_from_the_authorization_header(
        header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


async def test_a_token_is_verified_once_and_remembered_until_it_expires() -> None:
    issuer = FakeIssuer(KEY)
    checks = verifier(issuer)
    with pytest.raises(Unauthorized, match="expired"):
        await checks.verify(FORGED["expired"])  # an expired token is never remembered
    fresh = token(ttl=60)
    first = await checks.verify(fresh)
    issuer.document = jwks([])  # its key withdrawn: a new check could not verify it
    checks._keys = None  # and the verifier's own copy of the keys forgotten
    assert await checks.verify(fresh) == first
    with pytest.raises(Unauthorized, match="unknown key"):
        await checks.verify(token(ttl=60))  # another token is checked afresh
