"""Service-to-service credentials: each caller proves who it is with a short-lived token.

Every service, and the `operator` (the `msa` CLI, tests, the chaos harness), has its
own Ed25519 key pair; public keys are readable by every service. A caller signs
`{iss: caller, aud: callee, iat, exp ≤ iat + 60 s}` once per callee and sends it in
`X-Service-Token` until shortly before it expires: no signing per request. The
callee verifies it (and remembers verified tokens until they expire); what a
verified caller may do is `msa.service_guard`'s business.

Locally the keys live in `<data_dir>/secrets/services/`: `<name>.pem` (mode 0600)
and `<name>.pub`; outside production the first process to start creates every
missing pair. In Kubernetes they would be mounted secrets: `MSA_SERVICE_KEYS_DIR`
names the folder, and `load_credentials` is the one function that reads a private key.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from msa.errors import ConfigError
from msa.keyfiles import (
    locked,
    read_private_key,
    read_public_key,
    write_private_key,
    write_public_key,
)
from msa.principal import Unauthorized

SERVICE_TOKEN_HEADER = "X-Service-Token"
OPERATOR = "operator"
SERVICE_TOKEN_TTL = 60
REUSE_MARGIN = 15  # a cached token is replaced this many seconds before it expires
LEEWAY = 5  # seconds of clock skew tolerated
ALGORITHM = "EdDSA"
TOKEN_TYPE = "svc+jwt"  # never mistaken for a user's access token (at+jwt), nor the reverse
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def key_folder(data_dir: str | Path | None) -> Path:
    """Where service keys live: $MSA_SERVICE_KEYS_DIR, else `<data_dir>/secrets/services`;
    without either (tests in one process) a temporary folder of this process."""
    explicit = os.environ.get("MSA_SERVICE_KEYS_DIR")
    if explicit:
        return Path(explicit)
    if data_dir:
        return Path(data_dir) / "secrets" / "services"
    return _process_folder()


@functools.cache
def _process_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="msa-service-keys-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def ensure_keys(folder: Path, names: Iterable[str]) -> None:
    """Create the key pair of every name in `names` that has none (safe to race)."""
    with locked(folder):
        for name in names:
            private, public = folder / f"{name}.pem", folder / f"{name}.pub"
            if not private.exists():
                key = Ed25519PrivateKey.generate()
                write_private_key(private, key)
                write_public_key(public, key.public_key())
            elif not public.exists():
                write_public_key(public, read_private_key(private).public_key())


def load_credentials(folder: Path, name: str) -> ServiceCredentials:
    """The credentials `name` signs its calls with; ConfigError if its key is missing."""
    try:
        return ServiceCredentials(name, read_private_key(folder / f"{name}.pem"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{name}: no usable service key in {folder} ({exc})") from None


def operator_credentials(data_dir: str | Path | None) -> ServiceCredentials:
    """The operator's credentials (created on first use) for the system under `data_dir`."""
    folder = key_folder(data_dir)
    ensure_keys(folder, [OPERATOR])
    return load_credentials(folder, OPERATOR)


class ServiceCredentials:
    """Signs one caller's service tokens: one per callee, reused until near expiry."""

    def __init__(self, name: str, key: Ed25519PrivateKey, *, ttl: int = SERVICE_TOKEN_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 < ttl <= SERVICE_TOKEN_TTL:
            raise ValueError(f"a service token lives 1..{SERVICE_TOKEN_TTL} seconds")
        self.name = name
        self._key = key
        self._ttl = ttl
        self._clock = clock
        self._tokens: dict[str, tuple[str, int]] = {}

    def token(self, audience: str) -> str:
        """A valid token for calling `audience`, signed anew only when the last is near expiry."""
        now = int(self._clock())
        held = self._tokens.get(audience)
        if held is not None and held[1] - now > min(REUSE_MARGIN, self._ttl // 2):
            return held[0]
        expires = now + self._ttl
        token = jwt.encode({"iss": self.name, "sub": self.name, "aud": audience, "iat": now,
                            "exp": expires}, self._key, algorithm=ALGORITHM,
                           headers={"typ": TOKEN_TYPE, "kid": self.name})
        self._tokens[audience] = (token, expires)
        return token

    def headers(self, audience: str) -> dict[str, str]:
        """The header that authenticates a call to `audience`."""
        return {SERVICE_TOKEN_HEADER: self.token(audience)}


class ServiceTokenAuth(httpx.Auth):
    """Every request carries `credentials`' token for `audience`: `headers()` for
    `msa.client`, and as an httpx authentication for test and operator clients."""

    def __init__(self, credentials: ServiceCredentials, audience: str) -> None:
        self.credentials = credentials
        self.audience = audience

    def headers(self) -> dict[str, str]:
        """The header to send (the token is signed anew only near its expiry)."""
        return {"x-service-token": self.credentials.token(self.audience)}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[SERVICE_TOKEN_HEADER] = self.credentials.token(self.audience)
        yield request


class PublicKeys:
    """Callers' public keys from the key folder, each re-read at most every `ttl` seconds."""

    def __init__(self, folder: Path, *, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self._ttl = ttl
        self._clock = clock
        self._held: dict[str, tuple[Ed25519PublicKey | None, float]] = {}

    def get(self, name: str) -> Ed25519PublicKey | None:
        """The public key of `name`, or None when it has none."""
        if not _NAME.match(name):
            return None
        now = self._clock()
        held = self._held.get(name)
        if held is not None and now - held[1] < self._ttl:
            return held[0]
        try:
            key: Ed25519PublicKey | None = read_public_key(self.folder / f"{name}.pub")
        except (OSError, ValueError):
            key = None
        self._held[name] = (key, now)
        return key


class ServiceTokenVerifier:
    """Checks the service tokens sent to one service (`audience`)."""

    def __init__(self, audience: str, keys: PublicKeys, *, clock: Callable[[], float] = time.time,
                 cache_size: int = 4096) -> None:
        self.audience = audience
        self._keys = keys
        self._clock = clock
        self._cache_size = cache_size
        self._verified: dict[str, tuple[str, int]] = {}

    def verify(self, token: str | None) -> str:
        """The verified caller's name; `Unauthorized` saying why otherwise."""
        if not token:
            raise Unauthorized(f"{self.audience} takes calls from services only: "
                               f"send {SERVICE_TOKEN_HEADER}")
        now = self._clock()
        known = self._verified.get(token)
        if known is not None and known[1] + LEEWAY > now:
            return known[0]
        caller, expires = self._check(token, now)
        if len(self._verified) >= self._cache_size:
            self._verified = {t: v for t, v in self._verified.items() if v[1] + LEEWAY > now}
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
        self._verified[token] = (caller, expires)
        return caller

    def _check(self, token: str, now: float) -> tuple[str, int]:
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("the service token is malformed") from None
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise Unauthorized("the service token is not an EdDSA service token")
        caller = str(claimed.get("iss", ""))
        key = self._keys.get(caller)
        if key is None:
            raise Unauthorized(f"the service token comes from an unknown caller {caller!r}")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience,
                                issuer=caller, leeway=LEEWAY,
                                options={"require": ["iss", "aud", "iat", "exp"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the service token is not valid: {exc}") from None
        expires, issued = int(claims["exp"]), int(claims["iat"])
        if expires - issued > SERVICE_TOKEN_TTL or issued > now + LEEWAY:
            raise Unauthorized(f"a service token lives at most {SERVICE_TOKEN_TTL} seconds")
        return caller, expires
