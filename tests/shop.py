"""A customer's and an operator's view of a running bookstore, for the tests.

Everything goes through the gateway as a real client would, except what only an
operator can do locally (creating the first admin, reading audit views).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bookstore.invariants import CHECKS
from msa.checks import CheckResult, SystemAccess
from msa.runner import Runner

PASSWORD = "a-long-test-password-1"
USER_BURST = 100
TEST_ENV = {
    "IDENTITY_SCRYPT_LOG2N": "11",  # a lower work factor: tests register hundreds of users
    # every test request comes from 127.0.0.1: the address limit must not get in the way
    "GATEWAY_IP_RATE": "100000", "GATEWAY_IP_BURST": "100000",
    "GATEWAY_USER_RATE": "50", "GATEWAY_USER_BURST": str(USER_BURST),
    "GATEWAY_CORS_ORIGINS": "https://shop.example",
}
_counter = itertools.count()


def new_isbn() -> str:
    first12 = "979" + "".join(random.choice("0123456789") for _ in range(9))
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


@dataclass
class Shopper:
    """A signed-in customer."""

    http: httpx.AsyncClient
    token: str
    user_id: str
    email: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, body: Any = None, *, key: str | None = "auto",
                   headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {**self.auth, **(headers or {})}
        if key == "auto" and method == "POST":
            key = uuid.uuid4().hex
        if key and key != "auto":
            sent["Idempotency-Key"] = key
        return await self.http.request(method, path, json=body, headers=sent)

    async def top_up(self, cents: int) -> int:
        response = await self.call("POST", "/api/wallet/topups", {"amount_cents": cents})
        assert response.status_code == 201, response.text
        return int(response.json()["balance_cents"])

    async def balance(self) -> int:
        response = await self.call("GET", "/api/wallet")
        assert response.status_code == 200, response.text
        return int(response.json()["balance_cents"])

    async def add_to_cart(self, book_id: str, quantity: int = 1) -> httpx.Response:
        return await self.call("POST", "/api/orders/cart/items",
                               {"book_id": book_id, "quantity": quantity})

    async def checkout(self, key: str | None = None) -> httpx.Response:
        return await self.call("POST", "/api/orders/checkout", key=key or uuid.uuid4().hex)

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def settled(self, order_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The order once it is CONFIRMED or CANCELLED."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            order = await self.order(order_id)
            if order["status"] != "PENDING":
                return order
            assert asyncio.get_running_loop().time() < deadline, f"order still pending: {order}"
            await asyncio.sleep(0.1)


@dataclass
class Bookstore:
    """A running bookstore (process or monolith mode) and ways to use it."""

    runner: Runner
    http: httpx.AsyncClient
    access: SystemAccess
    _admin: Shopper | None = field(default=None)

    @property
    def mode(self) -> str:
        return self.runner.mode

    async def customer(self, credit: int = 0) -> Shopper:
        email = f"reader{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"
        response = await self.http.post("/api/identity/register",
                                        json={"email": email, "password": PASSWORD},
                                        headers={"Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201, response.text
        shopper = await self._login(email, response.json()["id"])
        if credit:
            await shopper.top_up(credit)
        return shopper

    async def _login(self, email: str, user_id: str) -> Shopper:
        response = await self.http.post("/api/identity/login",
                                        json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return Shopper(self.http, response.json()["access_token"], user_id, email)

    async def admin(self) -> Shopper:
        if self._admin is None:
            email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
            created = await self.access.post(
                "identity", "/internal/identity/admins", {"email": email, "password": PASSWORD},
                headers={"Idempotency-Key": uuid.uuid4().hex})
            self._admin = await self._login(email, created["id"])
        return self._admin

    async def new_book(self, copies: int, price_cents: int = 1250) -> str:
        """A new book with exactly `copies` in stock; returns its id."""
        admin = await self.admin()
        response = await admin.call("POST", "/api/catalog/admin/books", {
            "isbn": new_isbn(), "title": f"Test Book {uuid.uuid4().hex[:6]}",
            "author": "Test Author", "price_cents": price_cents, "year": 2020})
        assert response.status_code == 201, response.text
        book_id: str = response.json()["id"]
        for _ in range(200):  # inventory learns of the book from catalog's event
            if (await self.http.get(f"/api/inventory/stock/{book_id}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        if copies:
            restock = await admin.call("POST", "/api/inventory/admin/restock",
                                       {"book_id": book_id, "quantity": copies})
            assert restock.status_code == 200, restock.text
        return book_id

    async def available(self, book_id: str) -> int:
        response = await self.http.get(f"/api/inventory/stock/{book_id}")
        assert response.status_code == 200, response.text
        return int(response.json()["available"])

    async def check(self, quiet_timeout: float = 30.0) -> list[CheckResult]:
        """Wait until quiet, then run every invariant; fail with the violations."""
        busy = await CHECKS.wait_quiet(self.access, quiet_timeout)
        assert busy is None, f"the system did not go quiet: {busy}"
        results = await CHECKS.run(self.access)
        violations = [f"{r.name}: {v}" for r in results for v in r.violations]
        assert not violations, "\n".join(violations)
        return results
