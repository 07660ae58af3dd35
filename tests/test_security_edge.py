"""The public edge: rate limits, body limits, malformed tokens, headers, CORS, first admin."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter

import httpx
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
        sys.executable, "-m", "msa.tools.cli", "admin", "create", email, "--password-stdin",
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


async def _raw_request(url: str, method: str, target: str, headers: dict[str, str]
                       ) -> tuple[int, dict[str, str], bytes]:
    """Send `target` byte for byte over a socket: no client library tidies the path."""
    address = httpx.URL(url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {address.host}:{address.port}",
                 "Connection: close", "Content-Length: 0",
                 *(f"{name}: {value}" for name, value in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {name.strip().lower(): value.strip()
             for name, _, value in (line.partition(":") for line in header_lines)}
    if "chunked" in found.get("transfer-encoding", ""):
        body = b"".join(body.split(b"\r\n")[1::2])
    return int(status_line.split()[1]), found, body


def _traversals(prefix: str, service: str) -> list[str]:
    """Every way of writing `prefix/../../internal/<service>/audit` a server might collapse."""
    inner = f"internal/{service}/audit"
    return [f"{prefix}/{up}/{up}/{inner}" for up in
            ("..", "%2e%2e", "%2E%2E", "%2e%2E", ".%2e", "%2E.", "%252e%252e")] + [
        f"{prefix}/..%2f..%2f{inner}", f"{prefix}/..%2F..%2F{inner}",
        f"{prefix}/..%5c..%5c{inner}", f"{prefix}/..%5C..%5C{inner}",
        f"{prefix}/..\\..\\{inner}", f"{prefix}/./{inner}", f"{prefix}/%2e/{inner}",
        f"{prefix}//{inner}", f"{prefix}/x/%2e%2e/%2e%2e/%2e%2e/{inner}",
    ]


async def _spans(bookstore: Bookstore, trace_id: str) -> dict[str, int]:
    """service → how many of its spans belong to the trace (every replica asked)."""
    counts: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service, urls in bookstore.replica_urls().items():
            for url in urls:
                answer = await http.get(f"{url}/internal/traces", params={"trace_id": trace_id},
                                        headers=bookstore.access.auth_headers(service))
                assert answer.status_code == 200, answer.text
                counts[service] = counts.get(service, 0) + len(answer.json()["spans"])
    return counts


async def test_a_path_that_climbs_out_of_its_prefix_is_a_404_and_reaches_no_service(
        bookstore: Bookstore):
    system = bookstore.runner.system
    gateway = system.system.gateway
    url = bookstore.runner.gateway_url
    trace_id = uuid.uuid4().hex
    traced = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
    attacks = [("GET", path) for svc in system.services.values() if svc.name != gateway
               for prefix in svc.routes for path in _traversals(prefix.rstrip("/"), svc.name)]
    attacks += [("POST", f"/api/wallet/{up}/{up}/internal/wallet/debits/{uuid.uuid4()}/refund")
                for up in ("..", "%2e%2e", "%2E%2E")]
    assert len(attacks) > 100
    wrong = []
    for method, path in attacks:
        status, headers, body = await _raw_request(
            url, method, path, {**traced, "Idempotency-Key": uuid.uuid4().hex})
        problem = headers.get("content-type", "").startswith(PROBLEM) and \
            json.loads(body).get("status") == 404
        if status != 404 or not problem:
            wrong.append(f"{method} {path}: {status} {body[:100]!r}")
    assert not wrong, "\n".join(wrong)
    await asyncio.sleep(0.5)  # spans are kept when they end
    reached = {service: n for service, n in (await _spans(bookstore, trace_id)).items()
               if n and service != gateway}
    assert not reached, f"reached behind the gateway: {reached}"

    control = uuid.uuid4().hex  # the same kind of request with a plain path does get through
    status, _, _ = await _raw_request(url, "GET", "/api/catalog/books?limit=1",
                                      {"traceparent": f"00-{control}-{uuid.uuid4().hex[:16]}-01"})
    assert status == 200
    await asyncio.sleep(0.5)
    assert (await _spans(bookstore, control)).get("catalog"), "the control reached no catalog"
