"""Guessing one account's password through the gateway is throttled by identity."""

from __future__ import annotations

import asyncio

import pytest

from tests.shop import PASSWORD, Bookstore

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


async def test_thirty_wrong_passwords_lock_the_account_even_for_the_right_one_until_the_delay(
        bookstore: Bookstore):
    shopper = await bookstore.customer()
    statuses = []
    for attempt in range(30):
        answer = await bookstore.http.post("/api/identity/login", json={
            "email": shopper.email, "password": f"guess-{attempt}"})
        statuses.append(answer.status_code)
    assert set(statuses) == {401, 429}, statuses
    assert statuses[:5] == [401] * 5  # a few honest mistakes cost nothing
    right = await bookstore.http.post("/api/identity/login",
                                      json={"email": shopper.email, "password": PASSWORD})
    assert right.status_code == 429, right.text
    assert right.headers["content-type"].startswith("application/problem+json")
    wait = int(right.headers["retry-after"])
    assert wait >= 1
    await asyncio.sleep(wait)
    right = await bookstore.http.post("/api/identity/login",
                                      json={"email": shopper.email, "password": PASSWORD})
    assert right.status_code == 200, right.text  # the delay passed: the owner gets in
    wrong = await bookstore.http.post("/api/identity/login",
                                      json={"email": shopper.email, "password": "guess"})
    assert wrong.status_code == 401  # the success reset the count
