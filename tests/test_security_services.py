"""Services take calls from declared callers only, and believe users only from the gateway.

Each service is called directly, at each replica's own address (monolith: its
mounted prefix), past the gateway, as an attacker inside the network would.
"""

from __future__ import annotations

import uuid

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from msa.service_auth import SERVICE_TOKEN_HEADER, key_folder, load_credentials
from tests.api_surface import operations
from tests.shop import Bookstore

ADMIN = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}


def signed_as(bookstore: Bookstore, caller: str, callee: str) -> dict[str, str]:
    """The header `caller` would send to `callee` (the test holds the data folder's keys)."""
    folder = key_folder(bookstore.runner.data_dir)
    return load_credentials(folder, caller).headers(callee)


async def test_every_route_of_every_service_needs_a_service_credential(bookstore: Bookstore):
    addresses = bookstore.runner.addresses
    wrong, tried = [], 0
    async with httpx.AsyncClient(timeout=10) as http:
        for op in await operations(bookstore, public=False):
            for base in addresses[op.service]:
                answer = await http.request(op.method, base + op.url(), headers=ADMIN,
                                            json={} if op.body_schema else None)
                tried += 1
                if answer.status_code != 401 or "problem+json" not in answer.headers.get(
                        "content-type", ""):
                    wrong.append(f"{op} at {base}: {answer.status_code}")
        for service, bases in addresses.items():
            for path in ("/openapi.json", "/docs", "/internal/faults"):
                if service == bookstore.runner.system.system.gateway and path != "/internal/faults":
                    continue  # the public edge documents itself to everyone
                answer = await http.get(bases[0] + path)
                if answer.status_code != 401:
                    wrong.append(f"{service} {path}: {answer.status_code}")
            health = await http.get(bases[0] + "/healthz")
            assert health.status_code == 200, f"{service} /healthz"
    assert tried >= 40
    assert not wrong, "\n".join(wrong)


async def test_a_caller_that_system_toml_does_not_declare_is_forbidden(bookstore: Bookstore):
    system = bookstore.runner.system
    async with httpx.AsyncClient(timeout=10) as http:
        for target, bases in bookstore.runner.addresses.items():
            if target == system.system.gateway:
                continue
            stranger = next(s.name for s in system.services.values()
                            if target not in s.calls and s.name != target)
            answer = await http.get(f"{bases[0]}/internal/{target}/audit",
                                    headers=signed_as(bookstore, stranger, target))
            assert answer.status_code == 403, f"{stranger} → {target}: {answer.status_code}"


GATEWAY_MAY_CALL = {("identity", "GET", "/internal/identity/jwks")} | {
    (service, "GET", "/openapi.json") for service in ("identity", "catalog", "reviews",
                                                      "inventory", "orders", "wallet", "ledger",
                                                      "notifications")}
"""The internal operations the gateway's credential may use: the keys it verifies tokens
with, and each service's OpenAPI document (merged into the public one, public routes only)."""


async def test_the_gateway_credential_is_refused_every_internal_operation_but_its_own(
        bookstore: Bookstore):
    gateway = bookstore.runner.system.system.gateway
    addresses = bookstore.runner.addresses
    internal = [op for op in await operations(bookstore, public=False)
                if op.path.startswith("/internal/")]
    calls = [(op.service, op.method, op.path, op.url(), op.body_schema is not None)
             for op in internal]
    calls += [(service, method, path, path, method == "POST")
              for service in addresses if service != gateway
              for method, path in [("GET", "/internal/traces"), ("POST", "/internal/faults"),
                                   ("GET", "/openapi.json")]]
    assert len({(s, m, p) for s, m, p, _, _ in calls} & GATEWAY_MAY_CALL) == len(GATEWAY_MAY_CALL)
    assert len(internal) >= 20, [str(op) for op in internal]
    wrong = []
    async with httpx.AsyncClient(timeout=10) as http:
        for service, method, path, url, has_body in calls:
            for base in addresses[service]:
                answer = await http.request(
                    method, base + url, json={} if has_body else None,
                    headers={**ADMIN, **signed_as(bookstore, gateway, service),
                             "Idempotency-Key": uuid.uuid4().hex})
                expected = 200 if (service, method, path) in GATEWAY_MAY_CALL else 403
                if answer.status_code != expected:
                    wrong.append(f"{method} {path} ({service}) at {base}: {answer.status_code}, "
                                 f"not {expected}")
    assert not wrong, "\n".join(wrong)


async def test_only_the_gateway_can_say_who_the_user_is(bookstore: Bookstore):
    shopper = await bookstore.customer(credit=700)
    wallet = bookstore.runner.addresses["wallet"][0] + "/api/wallet"
    user = {"X-User-Id": shopper.user_id, "X-User-Role": "customer"}
    async with httpx.AsyncClient(timeout=10) as http:
        as_gateway = await http.get(wallet, headers={**user, **signed_as(bookstore, "gateway",
                                                                         "wallet")})
        assert as_gateway.status_code == 200 and as_gateway.json()["balance_cents"] == 700
        as_orders = await http.get(wallet, headers={**user, **signed_as(bookstore, "orders",
                                                                        "wallet")})
        assert as_orders.status_code == 401, "orders may call wallet, but not as a user"
        as_operator = await http.get(wallet, headers={**user, **signed_as(bookstore, "operator",
                                                                          "wallet")})
        assert as_operator.status_code == 403, "operators use /internal routes only"


async def test_operations_for_operators_refuse_every_other_caller(bookstore: Bookstore):
    addresses = bookstore.runner.addresses
    ops = [("orders", "GET", "/internal/sagas", None),
           ("orders", "GET", "/internal/outbox", None),
           ("inventory", "POST", "/internal/inventory/restock",
            {"book_id": str(uuid.uuid4()), "quantity": 1}),
           ("identity", "POST", "/internal/identity/admins",
            {"email": "x@example.com", "password": "Not-the-one-1"}),
           ("wallet", "POST", "/internal/faults", {"points": ""})]
    async with httpx.AsyncClient(timeout=10) as http:
        for service, method, path, body in ops:
            headers = {**signed_as(bookstore, "gateway", service), "Idempotency-Key": "k"}
            answer = await http.request(method, addresses[service][0] + path, json=body,
                                        headers=headers)
            assert answer.status_code == 403, f"{method} {path}: {answer.status_code}"
        listed = await http.get(addresses["orders"][0] + "/internal/sagas",
                                headers=signed_as(bookstore, "operator", "orders"))
        assert listed.status_code == 200


async def test_a_service_token_signed_with_another_key_is_refused(bookstore: Bookstore):
    import time

    now = int(time.time())
    forged = jwt.encode({"iss": "orders", "aud": "wallet", "iat": now, "exp": now + 60},
                        Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"typ": "svc+jwt"})
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(bookstore.runner.addresses["wallet"][0] + "/internal/wallet/audit",
                                headers={SERVICE_TOKEN_HEADER: forged})
    assert answer.status_code == 401
