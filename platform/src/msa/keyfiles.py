"""Ed25519 keys kept as PEM files: written atomically, private ones readable by the owner only.

Two kinds of keys use these files: an issuer's token-signing keys (`msa.auth`, one
file per `kid`, rotated) and each service's own key pair (`msa.service_auth`).

    with locked(folder):
        write_private_key(folder / "a.pem", Ed25519PrivateKey.generate())
    key = read_private_key(folder / "a.pem")
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_log = logging.getLogger("msa.keyfiles")


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder`: processes starting together create each key once."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()  # left by a writer that died half-way
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)  # a reader never sees half a key


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write `key` as PKCS#8 PEM with mode 0600."""
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def write_public_key(path: Path, key: Ed25519PublicKey) -> None:
    """Write `key` as SubjectPublicKeyInfo PEM, readable by everyone (it is public)."""
    _write(path, key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in `path`; warns when others may read the file."""
    if path.stat().st_mode & 0o077:
        _log.warning("private key %s is readable by others; it should be mode 0600", path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def read_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in `path`."""
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key
