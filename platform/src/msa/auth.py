"""Access tokens: Ed25519-signed JWTs, their keys, their JWKS and their verification.

The issuing service keeps its private keys as PEM files (`msa.signing_keys`: the
newest signs, older ones stay in the JWKS until their tokens have expired):

    ring = KeyRing(key_directory(data_dir))
    token = issue_access_token(ring.signing_key, sub=str(user_id), role="customer",
                               issuer="shop-identity", audience="shop")
    document = jwks(ring.published())

A verifying service holds one `TokenVerifier` fed by an async function that fetches
that JWKS; it caches it, refetches once on an unknown `kid`, accepts only EdDSA
(so `alg=none` and HS256-signed-with-the-public-key are refused), refuses tokens
whose `exp - iat` exceeds 15 minutes, and raises `Unauthorized` (a 401 problem)
with a clear detail for every failure.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from msa.principal import ROLES, Principal, Unauthorized
from msa.problems import Unavailable
from msa.signing_keys import (
    MAX_ACCESS_TTL,
    KeyRing,
    SigningKey,
    VerificationKey,
    generate_signing_key,
    key_directory,
    load_or_create_signing_keys,
    rotate_signing_key,
)

__all__ = [
    "MAX_ACCESS_TTL", "Claims", "KeyRing", "SigningKey", "TokenVerifier", "VerificationKey",
    "bearer_token", "generate_signing_key", "issue_access_token", "jwks", "key_directory",
    "load_or_create_signing_keys", "rotate_signing_key",
]

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # RFC 9068: a verifier never mistakes another kind of JWT for access
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub"]
_log = logging.getLogger("msa.auth")


@dataclass(frozen=True)
class Claims:
    """What a verified access token says about its bearer."""

    user_id: uuid.UUID
    role: str
    expires_at: int
    token_id: str

    @property
    def principal(self) -> Principal:
        return Principal(self.user_id, self.role)


def issue_access_token(key: SigningKey, *, sub: str, role: str, issuer: str, audience: str,
                       ttl: int = MAX_ACCESS_TTL, now: float | None = None) -> str:
    """A signed access token for `sub`, valid for `ttl` seconds (at most 15 minutes)."""
    if not 0 < ttl <= MAX_ACCESS_TTL:
        raise ValueError(f"access token lifetime must be 1..{MAX_ACCESS_TTL} seconds")
    issued = int(time.time() if now is None else now)
    claims = {"sub": sub, "role": role, "iss": issuer, "aud": audience, "iat": issued,
              "nbf": issued, "exp": issued + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM,
                      headers={"kid": key.kid, "typ": TOKEN_TYPE})


def jwks(keys: Iterable[VerificationKey]) -> dict[str, Any]:
    """The JSON Web Key Set (RFC 8037 OKP keys) publishing `keys`."""
    return {"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": _b64(k.key.public_bytes_raw()), "kid": k.kid,
         "alg": ALGORITHM, "use": "sig"}
        for k in keys
    ]}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_keys(document: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The usable keys of a JWKS; anything that is not an Ed25519 signing key is skipped."""
    found = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or (entry.get("kty"), entry.get("crv")) != (
                "OKP", "Ed25519"):
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM or entry.get("use", "sig") != "sig":
            continue
        try:
            raw = base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
            found[str(entry["kid"])] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError, TypeError):
            continue
    return found


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


JwksFetch = Callable[[], Awaitable[dict[str, Any]]]

_FAILURES: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the access token has expired"),
    (jwt.ImmatureSignatureError, "the access token is not valid yet"),
    (jwt.InvalidAudienceError, "the access token is meant for another audience"),
    (jwt.InvalidIssuerError, "the access token comes from an unknown issuer"),
    (jwt.MissingRequiredClaimError, "the access token lacks a required claim"),
    (jwt.InvalidSignatureError, "the access token's signature is not valid"),
]


VERIFIED_KEPT = 10_000  # verified tokens remembered per verifier


class TokenVerifier:
    """Verifies access tokens against the issuer's JWKS, fetched and cached."""

    def __init__(self, jwks_fetch: JwksFetch, *, issuer: str, audience: str,
                 cache_seconds: float = 300.0, leeway: float = 10.0,
                 refetch_interval: float = 5.0) -> None:
        self._fetch = jwks_fetch
        self.issuer = issuer
        self.audience = audience
        self.cache_seconds = cache_seconds
        self.leeway = leeway
        self.refetch_interval = refetch_interval  # an unknown kid cannot make us hammer the issuer
        self._keys: dict[str, Ed25519PublicKey] | None = None
        self._fetched_at = self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self._verified: dict[str, Claims] = {}  # token → its claims, until it expires

    async def verify(self, token: str | None) -> Claims:
        """The claims of a valid token; `Unauthorized` with the reason otherwise.

        A token verified once is remembered until it expires (a client sends the same
        token with every request: its signature is checked once, not per request).
        """
        if not token:
            raise Unauthorized("no access token: send Authorization: Bearer <token>")
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at + self.leeway > time.time():
                return known
            del self._verified[token]
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_KEPT:
            self._verified.pop(next(iter(self._verified)))  # the oldest
        self._verified[token] = claims
        return claims

    async def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the access token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"the access token's algorithm {header.get('alg')!r} is refused")
        if header.get("typ") != TOKEN_TYPE:
            raise Unauthorized("the token is not an access token")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": _REQUIRED})
        except jwt.PyJWTError as exc:
            detail = next((text for kind, text in _FAILURES if isinstance(exc, kind)),
                          "the access token is not valid")
            raise Unauthorized(detail) from None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_ACCESS_TTL:
            # only an issuer that mints long-lived tokens (or a stolen key) makes these
            raise Unauthorized(f"the access token lives longer than {MAX_ACCESS_TTL} seconds")
        return _claims(claims)

    async def _key(self, kid: str) -> Ed25519PublicKey:
        loop = asyncio.get_running_loop()
        keys = self._keys
        if keys is None or loop.time() - self._fetched_at > self.cache_seconds:
            keys = await self._refresh(force=False)
        if kid not in keys:
            keys = await self._refresh(force=True)
        if kid not in keys:
            raise Unauthorized("the access token is signed by an unknown key")
        return keys[kid]

    async def _refresh(self, *, force: bool) -> dict[str, Ed25519PublicKey]:
        async with self._lock:  # concurrent requests share one fetch
            now = asyncio.get_running_loop().time()
            if self._keys is not None:
                fresh = now - self._fetched_at < self.cache_seconds
                if (fresh and not force) or now - self._attempted_at < self.refetch_interval:
                    return self._keys
            self._attempted_at = now
            try:
                self._keys = _public_keys(await self._fetch())
                self._fetched_at = now
            except Exception as exc:
                if self._keys is None:
                    raise Unavailable("the token issuer's keys cannot be fetched") from exc
                _log.warning("JWKS fetch failed; verifying with the keys held: %s", exc)
            return self._keys


def _claims(claims: dict[str, Any]) -> Claims:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("the access token's subject is not a user id") from None
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized("the access token carries an unknown role")
    return Claims(user_id, str(role), int(claims["exp"]), str(claims.get("jti", "")))
