"""The public edge: rate limits, body limits, malformed tokens, headers, CORS, first admin."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter

import pytest

from tests.shop import PASSWORD, USER_BURST, Bookstore, Shopper

PROBLEM = "application/problem+json"


async def test_a_burst_above_the_limit_gets_429_for_that_user_only(bookstore: Bookstore):
    greedy, patient = await bookstore.customer(), await bookstore.customer()
    codes: Counter[int] = Counter()
    refused = None
    for _ in range(10):  # waves of a whole burst at once, until the bucket runs dry
        answers = await asyncio.gather(*(greedy.call("GET", "/api/nothing/here")
                                         for _ in range(USER_BURST)))
        codes.update(answer.status_code for answer in answers)
        refused = next((answer for answer in answers if answer.status_code == 429), None)
        if refused is not None:
            break
    assert refused is not None and set(codes) == {404, 429}, codes
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert int(refused.headers["retry-after"]) >= 1
    assert (await patient.call("GET", "/api/wallet")).status_code == 200
    assert (await bookstore.http.get("/api/catalog/books?limit=1")).status_code == 200
    await asyncio.sleep(int(refused.headers["retry-after"]))
    assert (await greedy.call("GET", "/api/wallet")).status_code == 200


async def test_an_oversized_body_is_refused_with_413_however_it_is_sent(bookstore: Bookstore):
    shopper = await bookstore.customer()
    big = b'{"amount_cents": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {**shopper.auth, "Idempotency-Key": uuid.uuid4().hex,
               "Content-Type": "application/json"}
    declared = await bookstore.http.post("/api/wallet/topups", content=big, headers=headers)

    async def chunks():
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    streamed = await bookstore.http.post("/api/wallet/topups", content=chunks(), headers=headers)
    for answer in (declared, streamed):
        assert answer.status_code == 413 and answer.headers["content-type"].startswith(PROBLEM)
    assert await shopper.balance() == 0


@pytest.mark.parametrize("authorization", [
    "Bearer", "Basic dXNlcjpwYXNz", "Bearer abc", "Bearer a.b", "Bearer a.b.c.d",
    "Bearer ..", "Bearer " + "A" * 6000, "Bearer eyJhbGciOiJFZERTQSJ9.e30.",
    "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6WzFdfQ.e30.c2ln",  # kid is a list
    "Bearer eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6MX0.bm90anNvbg.c2ln",
    "Bearer e30.e30.e30", "Bearer ====.====.====", "bearer\ttoken", "Bearer  two  spaces",
])
async def test_a_malformed_token_is_a_401_problem_never_a_500(bookstore: Bookstore,
                                                              authorization: str):
    answer = await bookstore.http.get("/api/wallet", headers={"Authorization": authorization})
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert answer.json()["status"] == 401 and answer.json()["detail"]


async def test_every_gateway_answer_carries_security_headers_and_the_request_id(
        bookstore: Bookstore):
    answers = [await bookstore.http.get("/api/catalog/books?limit=1"),
               await bookstore.http.get("/api/wallet"),
               await bookstore.http.get("/api/nothing", headers={"X-Request-Id": "req-7"})]
    assert [a.status_code for a in answers] == [200, 401, 404]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "max-age" in answer.headers["strict-transport-security"]
    assert answers[2].headers["x-request-id"] == "req-7"


async def test_cors_allows_the_configured_origin_only(bookstore: Bookstore):
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}
    allowed = await bookstore.http.options("/api/wallet/topups",
                                           headers={"Origin": "https://shop.example", **ask})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-credentials" not in allowed.headers
    other = await bookstore.http.options("/api/wallet/topups",
                                         headers={"Origin": "https://evil.example", **ask})
    assert "access-control-allow-origin" not in other.headers
    simple = await bookstore.http.get("/api/catalog/books?limit=1",
                                      headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def _msa_admin_create(bookstore: Bookstore, email: str, password: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msa.cli", "admin", "create", email, "--password-stdin",
        "--data-dir", str(bookstore.runner.data_dir),
        env={**os.environ, "MSA_SYSTEM_FILE": str(bookstore.runner.system.path)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate(password.encode() + b"\n")
    return process.returncode or 0, out.decode()


@pytest.mark.parametrize("bookstore", ["process"], indirect=True)
async def test_the_first_administrator_is_made_with_msa_admin_create(bookstore: Bookstore):
    email = f"boss-{uuid.uuid4().hex[:8]}@example.com"
    code, out = await _msa_admin_create(bookstore, email, PASSWORD)
    assert code == 0, out
    login = await bookstore.http.post("/api/identity/login",
                                      json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    boss = Shopper(bookstore.http, login.json()["access_token"], "", email)
    assert (await boss.call("GET", "/api/ledger/summary")).status_code == 200
    code, out = await _msa_admin_create(bookstore, email, PASSWORD)
    assert code == 1 and "already registered" in out
