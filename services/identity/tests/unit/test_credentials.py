"""The rules for emails and passwords, and how passwords are kept."""

from __future__ import annotations

import pytest

from identity import domain
from identity.domain import (
    check_email,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)


@pytest.mark.parametrize("raw", ["Ada@Example.COM ", "a.b+c@mail.example.co.uk", "x@y.io"])
def test_a_valid_email_is_kept_lower_cased(raw: str) -> None:
    assert check_email(raw) == raw.strip().lower()


@pytest.mark.parametrize("raw", ["", "ada", "ada@", "@example.com", "ada@example",
                                 "ada@@example.com", "a da@example.com", ".ada@example.com",
                                 "ada..b@example.com", "ada@-example.com",
                                 "a" * 65 + "@example.com", f"ada@{'x' * 250}.com"])
def test_an_invalid_email_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        check_email(raw)


@pytest.mark.parametrize("password", ["correct horse battery", "Tr0ub4dor&3", "ÄpfelBirnen",
                                      "1234567890ab"])
def test_a_reasonable_password_is_accepted(password: str) -> None:
    assert check_password(password) == password


@pytest.mark.parametrize(("password", "why"), [
    ("Short1!", "10 to 128"),
    ("x" * 129 + "1", "10 to 128"),
    ("alllowercaseletters", "two kinds"),
    ("12345678901", "two kinds"),
    ("aaaaaaaaa1", "5 different"),
])
def test_a_weak_password_is_refused_with_the_rule_it_breaks(password: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_password(password)


def test_a_password_hash_is_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password("Tr0ub4dor&3"), hash_password("Tr0ub4dor&3")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("Tr0ub4dor&3", first)
    assert not verify_password("Tr0ub4dor&4", first)


def test_compatible_unicode_forms_of_a_password_match() -> None:
    assert verify_password("ﬁsh-and-chips1", hash_password("fish-and-chips1"))


def test_a_hash_made_with_older_parameters_needs_rehashing() -> None:
    weak = hash_password("Tr0ub4dor&3", 2**10)
    assert needs_rehash(weak) and verify_password("Tr0ub4dor&3", weak)
    assert not needs_rehash(hash_password("Tr0ub4dor&3"))


def test_production_never_gets_a_weaker_work_factor_than_two_to_the_fifteen() -> None:
    assert domain.scrypt_cost(15, production=True) == 2**15
    with pytest.raises(ValueError, match="between 15 and 20"):
        domain.scrypt_cost(11, production=True)
    assert domain.scrypt_cost(11, production=False) == 2**11


def test_a_hash_made_with_one_lane_is_upgraded_to_owasps_three() -> None:
    salt = b"0123456789abcdef"
    digest = domain._scrypt("Tr0ub4dor&3", salt, 2**15, 8, 1)
    old = f"scrypt$n={2**15},r=8,p=1${domain._b64(salt)}${domain._b64(digest)}"
    assert verify_password("Tr0ub4dor&3", old) and needs_rehash(old)
    assert hash_password("Tr0ub4dor&3").startswith(f"scrypt$n={2**15},r=8,p=3$")
    for other in ("r=16,p=3", "r=8,p=4"):
        assert needs_rehash(old.replace("r=8,p=1", other))
