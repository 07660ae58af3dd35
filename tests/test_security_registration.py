"""Anonymous registration keys are scoped by the email registered, and a replay never
claims an account was made with a password that was not set."""

from __future__ import annotations

import uuid

from tests.shop import PASSWORD, Bookstore


def email() -> str:
    return f"stranger-{uuid.uuid4().hex[:8]}@example.com"


async def register(bookstore: Bookstore, address: str, password: str, key: str):
    return await bookstore.http.post("/api/identity/register",
                                     json={"email": address, "password": password},
                                     headers={"Idempotency-Key": key})


async def login(bookstore: Bookstore, address: str, password: str) -> int:
    answer = await bookstore.http.post("/api/identity/login",
                                       json={"email": address, "password": password})
    return answer.status_code


async def test_two_strangers_using_the_same_key_each_get_their_own_account(
        bookstore: Bookstore):
    key = f"r1-{uuid.uuid4().hex[:6]}"  # as the README's example, shared by chance
    first, second = email(), email()
    one = await register(bookstore, first, PASSWORD, key)
    other = await register(bookstore, second, PASSWORD, key)
    assert (one.status_code, other.status_code) == (201, 201), other.text
    assert one.json()["id"] != other.json()["id"]
    assert other.json()["email"] == second and "idempotent-replayed" not in other.headers
    assert await login(bookstore, second, PASSWORD) == 200


async def test_a_replay_with_another_password_is_refused_and_the_account_keeps_its_own(
        bookstore: Bookstore):
    key, address = uuid.uuid4().hex, email()
    created = await register(bookstore, address, PASSWORD, key)
    assert created.status_code == 201, created.text
    same = await register(bookstore, address, PASSWORD, key)
    assert same.status_code == 201 and same.headers["idempotent-replayed"] == "true"
    assert same.json() == created.json()
    other = await register(bookstore, address, "another-password-9", key)
    assert other.status_code == 409, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert await login(bookstore, address, "another-password-9") == 401
    assert await login(bookstore, address, PASSWORD) == 200
