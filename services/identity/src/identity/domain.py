"""Users' credentials: what an email and a password must be, and how a password is kept.

No framework, no SQL. Passwords are hashed with scrypt (memory-hard, in the standard
library) under a random per-user salt; the stored string names its parameters, so
they can be raised later and old hashes upgraded at the next login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from functools import cache

CUSTOMER, ADMIN = "customer", "admin"
ACCESS_TOKEN_TTL = 900  # seconds; short, because only refresh tokens can be revoked
REFRESH_TOKEN_TTL = 14 * 24 * 3600  # an unused refresh token lapses after two weeks
SESSION_TTL = 30 * 24 * 3600  # however often refreshed, a session ends a month after login

MAX_EMAIL = 254
_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}(?<!\.)"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)

MIN_PASSWORD, MAX_PASSWORD = 10, 128
MIN_CLASSES = 2
MIN_DISTINCT = 5

# N=2**15, r=8, p=3: one of OWASP's equivalent scrypt minimums (as strong as 2**17, r=8,
# p=1) that needs 32 MiB rather than 128 MiB per hash; p costs time, not memory (~0.3 s
# here). The parameters travel with each hash, so older ones are upgraded at login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 3
_SALT_BYTES, _KEY_BYTES = 16, 32
_MAXMEM = 64 * 1024 * 1024


def normalise_email(raw: str) -> str:
    """Emails are compared lower-cased and trimmed."""
    return raw.strip().lower()


def check_email(raw: str) -> str:
    """The normalised address; ValueError if it does not look like a deliverable one."""
    email = normalise_email(raw)
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


def _classes(password: str) -> int:
    kinds = {"lower" if c.islower() else "upper" if c.isupper() else
             "digit" if c.isdigit() else "other" for c in password}
    return len(kinds)


def check_password(password: str) -> str:
    """The password (NFKC-normalised) if it follows the rules; ValueError saying why not.

    Rules: 10–128 characters, at least two kinds of character (lower case, upper case,
    digits, others such as spaces or punctuation) and at least five different characters.
    Long passphrases are welcome; nothing else is imposed (NIST SP 800-63B).
    """
    password = unicodedata.normalize("NFKC", password)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if _classes(password) < MIN_CLASSES:
        raise ValueError("a password mixes at least two kinds of character "
                         "(lower case, upper case, digits, others)")
    if len(set(password)) < MIN_DISTINCT:
        raise ValueError(f"a password has at least {MIN_DISTINCT} different characters")
    return password


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    secret = unicodedata.normalize("NFKC", password).encode()
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=_MAXMEM)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """`scrypt$n=..,r=..,p=..$<salt>$<hash>` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt$n={n},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[dict[str, int], bytes, bytes]:
    scheme, params, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password scheme {scheme!r}")
    values = {name: int(value) for name, value in
              (item.split("=") for item in params.split(","))}
    return values, base64.b64decode(salt), base64.b64decode(digest)


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches `stored`; the comparison takes constant time."""
    params, salt, digest = _parse(stored)
    candidate = _scrypt(password, salt, params["n"], params["r"], params["p"])
    return hmac.compare_digest(candidate, digest)


def needs_rehash(stored: str, n: int = SCRYPT_N) -> bool:
    """True when `stored` was made with other parameters than today's."""
    params, _, _ = _parse(stored)
    return (params["n"], params["r"], params["p"]) != (n, SCRYPT_R, SCRYPT_P)


@cache
def decoy_hash(n: int = SCRYPT_N) -> str:
    """A hash no password matches, checked for unknown emails so they take as long."""
    return hash_password(secrets.token_urlsafe(32), n)


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    """What is stored of a refresh token. Its 256 random bits make a fast hash enough:
    nobody can guess their way back from the hash, unlike with a password."""
    return hashlib.sha256(token.encode()).hexdigest()


def scrypt_cost(log2_n: int, production: bool) -> int:
    """The work factor N from its log2; production never goes below 2**15."""
    floor = 15 if production else 10
    if not floor <= log2_n <= 20:
        raise ValueError(f"IDENTITY_SCRYPT_LOG2N must be between {floor} and 20")
    return 2**log2_n
