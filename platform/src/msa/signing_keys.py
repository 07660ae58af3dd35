"""An issuer's token-signing keys: one PEM file per `kid`, rotated without a restart.

The keys live under `<data_dir>/secrets/<service>/` (mode 0600). Kids start with
their UTC creation time, so they sort oldest to newest: the newest signs, and an
older key stays published (in the JWKS) until every token it signed has expired.

    ring = KeyRing(key_directory(data_dir))       # creates the first key if none
    token = issue_access_token(ring.signing_key, ...)
    document = jwks(ring.published())
    rotate_signing_key(data_dir)                  # the ring picks it up within a second
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from msa.keyfiles import locked, read_private_key, write_private_key

MAX_ACCESS_TTL = 900
"""The longest an access token lives (seconds); an old key is published this long after."""
RETIRE_LEEWAY = 60
_STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class VerificationKey:
    """A public key and the id tokens name it by."""

    kid: str
    key: Ed25519PublicKey


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id (`kid`); kids sort oldest to newest."""

    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public(self) -> VerificationKey:
        return VerificationKey(self.kid, self.private_key.public_key())

    @property
    def created_at(self) -> float:
        """When the key was made (from its kid); +inf for a kid of another form."""
        try:
            return datetime.strptime(self.kid.split("-", 1)[0], _STAMP).replace(
                tzinfo=UTC).timestamp()
        except ValueError:
            return float("inf")


def key_directory(data_dir: str | Path, service: str = "identity") -> Path:
    """Where `service` keeps its private signing keys."""
    return Path(data_dir) / "secrets" / service


def generate_signing_key() -> SigningKey:
    """A new key whose kid starts with its UTC creation time, so kids sort by age."""
    stamp = datetime.now(UTC).strftime(_STAMP)
    return SigningKey(f"{stamp}-{secrets.token_hex(4)}", Ed25519PrivateKey.generate())


def load_or_create_signing_keys(data_dir: str | Path,
                                service: str = "identity") -> list[SigningKey]:
    """Every stored key, oldest first (the last one signs); creates one if there is none."""
    folder = key_directory(data_dir, service)
    with locked(folder):
        keys = _read_keys(folder)
        if not keys:
            keys = [_write_key(folder, generate_signing_key())]
    return keys


def rotate_signing_key(data_dir: str | Path, service: str = "identity") -> SigningKey:
    """Add a new newest key (it signs at once) and delete keys no token can need any more."""
    folder = key_directory(data_dir, service)
    with locked(folder):
        key = _write_key(folder, generate_signing_key())
        kept = {k.kid for k in published(_read_keys(folder))}
        for path in folder.glob("*.pem"):
            if path.stem not in kept:
                path.unlink()
    return key


def published(keys: list[SigningKey], now: float | None = None) -> list[SigningKey]:
    """The keys whose tokens may still be valid: the newest, and each older one until
    MAX_ACCESS_TTL (plus leeway) after the next key replaced it."""
    now = time.time() if now is None else now
    horizon = MAX_ACCESS_TTL + RETIRE_LEEWAY
    return [key for key, successor in zip(keys, [*keys[1:], None], strict=True)
            if successor is None or now - successor.created_at < horizon]


class KeyRing:
    """A folder's signing keys, re-read when the folder changes (at most every `check_every`
    seconds), so that a rotation takes effect without a restart."""

    def __init__(self, folder: Path, *, check_every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.check_every = check_every
        self._clock = clock
        with locked(folder):
            keys = _read_keys(folder) or [_write_key(folder, generate_signing_key())]
        self._keys = keys
        self._stamp = folder.stat().st_mtime_ns
        self._checked = clock()

    @property
    def keys(self) -> list[SigningKey]:
        """Every key held, oldest first."""
        now = self._clock()
        if now - self._checked >= self.check_every:
            self._checked = now
            with contextlib.suppress(OSError):
                stamp = self.folder.stat().st_mtime_ns
                if stamp != self._stamp:
                    self._keys = _read_keys(self.folder) or self._keys
                    self._stamp = stamp
        return self._keys

    @property
    def signing_key(self) -> SigningKey:
        """The newest key: the one that signs."""
        return self.keys[-1]

    def published(self) -> list[VerificationKey]:
        """The public keys to serve in the JWKS."""
        return [key.public for key in published(self.keys)]


def _read_keys(folder: Path) -> list[SigningKey]:
    return [SigningKey(path.stem, read_private_key(path))
            for path in sorted(folder.glob("*.pem"))]


def _write_key(folder: Path, key: SigningKey) -> SigningKey:
    write_private_key(folder / f"{key.kid}.pem", key.private_key)
    return key
