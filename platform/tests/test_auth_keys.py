"""Signing keys: a rotation takes effect without a restart; old keys retire after their tokens."""

from __future__ import annotations

from pathlib import Path

from msa.keyfiles import write_private_key
from msa.signing_keys import (
    MAX_ACCESS_TTL,
    RETIRE_LEEWAY,
    KeyRing,
    SigningKey,
    generate_signing_key,
    key_directory,
    published,
    rotate_signing_key,
)


def _made_at(stamp: str) -> SigningKey:
    return SigningKey(f"{stamp}-abcd", generate_signing_key().private_key)


def test_an_old_key_stays_published_until_its_last_token_has_expired() -> None:
    old, new = _made_at("20260101T000000000000Z"), _made_at("20260101T010000000000Z")
    replaced = new.created_at
    assert published([old, new], now=replaced + MAX_ACCESS_TTL) == [old, new]
    assert published([old, new], now=replaced + MAX_ACCESS_TTL + RETIRE_LEEWAY + 1) == [new]
    assert published([new]) == [new]


def test_a_key_with_another_kind_of_kid_is_never_retired_by_age() -> None:
    legacy, new = SigningKey("legacy", generate_signing_key().private_key), _made_at(
        "20200101T000000000000Z")
    assert published([new, legacy]) == [new, legacy]


def test_the_ring_signs_with_a_rotated_key_as_soon_as_it_looks_again(tmp_path: Path) -> None:
    now = [0.0]
    ring = KeyRing(key_directory(tmp_path), check_every=1.0, clock=lambda: now[0])
    first = ring.signing_key
    newer = rotate_signing_key(tmp_path)
    assert ring.signing_key == first  # it looks at most once a second
    now[0] += 1.0
    assert ring.signing_key.kid == newer.kid
    assert [k.kid for k in ring.published()] == [first.kid, newer.kid]


def test_rotation_deletes_keys_no_token_can_need(tmp_path: Path) -> None:
    folder = key_directory(tmp_path)
    folder.mkdir(parents=True)
    oldest, old = _made_at("20200101T000000000000Z"), _made_at("20200102T000000000000Z")
    for key in (oldest, old):
        write_private_key(folder / f"{key.kid}.pem", key.private_key)
    newest = rotate_signing_key(tmp_path)
    kept = sorted(path.stem for path in folder.glob("*.pem"))
    assert kept == [old.kid, newest.kid]  # `old` signed until just now: its tokens live on
