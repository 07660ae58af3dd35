"""Service tokens: keys on disk, signing once per callee, and every way a token is refused."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from msa.auth import generate_signing_key, issue_access_token
from msa.keyfiles import read_private_key
from msa.principal import Unauthorized
from msa.service_auth import (
    SERVICE_TOKEN_HEADER,
    PublicKeys,
    ServiceCredentials,
    ServiceTokenVerifier,
    ensure_keys,
    load_credentials,
)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    ensure_keys(tmp_path, ["orders", "wallet", "operator"])
    return tmp_path


def verifier(folder: Path, audience: str = "wallet", **options: Any) -> ServiceTokenVerifier:
    return ServiceTokenVerifier(audience, PublicKeys(folder), **options)


def forged(folder: Path, claims: dict[str, Any], *, key: Any = None, alg: str = "EdDSA",
           typ: str = "svc+jwt") -> str:
    now = int(time.time())
    body = {"iss": "orders", "aud": "wallet", "iat": now, "exp": now + 60, **claims}
    signer = key if key is not None else read_private_key(folder / "orders.pem")
    return jwt.encode(body, signer, algorithm=alg, headers={"typ": typ})


def test_keys_are_made_once_private_to_the_owner_and_public_for_all(folder: Path) -> None:
    before = (folder / "orders.pem").read_bytes()
    ensure_keys(folder, ["orders", "ledger"])
    assert (folder / "orders.pem").read_bytes() == before
    assert stat.S_IMODE((folder / "ledger.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "ledger.pub").stat().st_mode) == 0o644
    assert b"PRIVATE" not in (folder / "ledger.pub").read_bytes()


def test_a_missing_key_is_one_clear_config_error(tmp_path: Path) -> None:
    from msa.errors import ConfigError

    with pytest.raises(ConfigError, match="no usable service key"):
        load_credentials(tmp_path, "orders")


def test_a_token_is_signed_once_and_reused_until_near_expiry(folder: Path) -> None:
    clock = Clock()
    orders = ServiceCredentials("orders", read_private_key(folder / "orders.pem"), clock=clock)
    first = orders.token("wallet")
    clock.now += 30
    assert orders.token("wallet") == first
    assert orders.token("ledger") != first
    clock.now += 20  # 10 s left: time for a new one
    renewed = orders.headers("wallet")[SERVICE_TOKEN_HEADER]
    assert renewed != first
    claims = jwt.decode(renewed, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == ("orders", "wallet",
                                                                             60)


def test_a_valid_token_names_its_caller_and_is_remembered(folder: Path) -> None:
    token = load_credentials(folder, "orders").token("wallet")
    check = verifier(folder)
    assert check.verify(token) == "orders"
    (folder / "orders.pub").unlink()  # a remembered token needs no key lookup
    assert check.verify(token) == "orders"


OTHER_KEY = Ed25519PrivateKey.generate()


@pytest.mark.parametrize(("case", "detail"), [
    ("missing", "send X-Service-Token"),
    ("garbage", "malformed"),
    ("alg none", "not an EdDSA service token"),
    ("hs256 with the public key", "not an EdDSA service token"),
    ("another key", "not valid"),
    ("wrong audience", "not valid"),
    ("expired", "not valid"),
    ("lives too long", "at most 60 seconds"),
    ("unknown caller", "unknown caller"),
    ("a path as caller", "unknown caller"),
    ("a user's access token", "not an EdDSA service token"),
])
def test_a_bad_service_token_is_unauthorized(folder: Path, case: str, detail: str) -> None:
    now = int(time.time())
    public_pem = (folder / "orders.pub").read_bytes()
    token = {
        "missing": lambda: "",
        "garbage": lambda: "abc.def",
        "alg none": lambda: jwt.encode({"iss": "orders", "aud": "wallet", "iat": now,
                                        "exp": now + 60}, None, algorithm="none",
                                       headers={"typ": "svc+jwt"}),
        "hs256 with the public key": lambda: _hs256(public_pem, now),
        "another key": lambda: forged(folder, {}, key=OTHER_KEY),
        "wrong audience": lambda: forged(folder, {"aud": "ledger"}),
        "expired": lambda: forged(folder, {"iat": now - 120, "exp": now - 60}),
        "lives too long": lambda: forged(folder, {"exp": now + 3600}),
        "unknown caller": lambda: forged(folder, {"iss": "stranger"}),
        "a path as caller": lambda: forged(folder, {"iss": "../orders"}),
        "a user's access token": lambda: issue_access_token(
            generate_signing_key(), sub="u", role="customer", issuer="orders", audience="wallet"),
    }[case]()
    with pytest.raises(Unauthorized, match=detail):
        verifier(folder).verify(token)


def _hs256(public_pem: bytes, now: int) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "svc+jwt"}).encode())
    body = b64(json.dumps({"iss": "orders", "aud": "wallet", "iat": now,
                           "exp": now + 60}).encode())
    signature = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def test_the_remembered_tokens_stay_bounded(folder: Path) -> None:
    check = verifier(folder, cache_size=3)
    for n in range(5):
        token = forged(folder, {"jti": str(n)})
        assert check.verify(token) == "orders"
    assert len(check._verified) <= 3


def test_public_keys_are_plain_spki_pem(folder: Path) -> None:
    key = serialization.load_pem_public_key((folder / "wallet.pub").read_bytes())
    assert key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == (
        read_private_key(folder / "wallet.pem").public_key().public_bytes_raw())
