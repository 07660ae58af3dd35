"""A customer's and an operator's view of a running bookstore, for the tests.

Everything goes through the gateway as a real client would, except what only an
operator can do locally (creating the first admin, reading audit views).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bookstore.invariants import CHECKS
from msa.checks import CheckResult, SystemAccess
from msa.tools.runner import Runner

PASSWORD = "a-long-test-password-1"
USER_BURST = 100
TEST_ENV = {
    "IDENTITY_SCRYPT_LOG2N": "11",  # a lower work factor: tests register hundreds of users
    # every test request comes from 127.0.0.1: the address limit must not get in the way
    "GATEWAY_IP_RATE": "100000", "GATEWAY_IP_BURST": "100000",
    "GATEWAY_LOGIN_RATE": "100000", "GATEWAY_LOGIN_BURST": "100000",
    # hashes at 2**11 take ~2 ms (not ~0.3 s): tests register users in parallel
    "IDENTITY_HASH_SLOTS": "256", "IDENTITY_HASH_SLOTS_PER_ADDRESS": "256",
    "IDENTITY_ADDRESS_FREE_FAILURES": "100000",
    "GATEWAY_USER_RATE": "50", "GATEWAY_USER_BURST": str(USER_BURST),
    "GATEWAY_CORS_ORIGINS": "https://shop.example",
}
_counter = itertools.count()
CHANGES = ("POST", "PUT", "PATCH", "DELETE")
"""Methods that change state: each needs an Idempotency-Key."""


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
        """Send a request as this customer; `key="auto"` gives a change a fresh key."""
        sent = {**self.auth, **(headers or {})}
        if key == "auto" and method.upper() in CHANGES:
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

    async def set_quantity(self, book_id: str, quantity: int) -> httpx.Response:
        return await self.call("PUT", f"/api/orders/cart/items/{book_id}", {"quantity": quantity})

    async def remove_from_cart(self, book_id: str) -> httpx.Response:
        return await self.call("DELETE", f"/api/orders/cart/items/{book_id}")

    async def cart(self) -> list[dict[str, Any]]:
        """The cart as the customer sees it: `[{book_id, quantity}]`."""
        response = await self.call("GET", "/api/orders/cart")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def review(self, book_id: str, rating: int, text: str = "",
                     timeout: float = 20.0) -> httpx.Response:
        """Write this customer's review of a book they bought; a 403 while reviews has not
        yet heard of the confirmed order (an event on its way) is asked again."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            answer = await self.call("PUT", f"/api/reviews/books/{book_id}/mine",
                                     {"rating": rating, "text": text})
            if answer.status_code != 403 or asyncio.get_running_loop().time() > deadline:
                return answer
            await asyncio.sleep(0.1)

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

    def replica_urls(self) -> dict[str, list[str]]:
        """service → the URL of each process that serves it. A monolith's workers share one
        public port, so each worker is asked on its own port (spans and metrics stay in
        their process)."""
        if self.mode != "monolith":
            return self.runner.addresses
        workers = [f"http://127.0.0.1:{instance.port}" for instance in
                   self.runner.status().instances]
        gateway = self.runner.system.system.gateway
        return {service: [worker if service == gateway else f"{worker}/_svc/{service}"
                          for worker in workers]
                for service in self.runner.addresses}

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

    async def buyer(self, book_id: str, credit: int = 10_000) -> Shopper:
        """A customer with a confirmed order of one copy of `book_id` (who may review it)."""
        shopper = await self.customer(credit=credit)
        assert (await shopper.add_to_cart(book_id)).status_code == 200
        order = await shopper.settled((await shopper.checkout()).json()["id"])
        assert order["status"] == "CONFIRMED", order
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

    async def written(self, shopper: Shopper) -> dict[str, Any]:
        """What a request could have written: every service's totals, the shopper's cart.

        Read through the audit routes (as the operator) and the shopper's own view, so
        "nothing written" is checked where the effects would show.
        """
        get = self.access.get
        wallet = await get("wallet", "/internal/wallet/audit")
        orders = await get("orders", "/internal/orders/audit")
        stock = await get("inventory", "/internal/inventory/audit")
        ledger = await get("ledger", "/internal/ledger/audit")
        notes = await get("notifications", "/internal/notifications/audit")
        reviews = await get("reviews", "/internal/reviews/audit")
        catalog = await get("catalog", "/internal/catalog/audit")
        return {
            "books": catalog["books"],
            "top_ups_cents": wallet["total_topups_cents"], "debits": len(wallet["debits"]),
            "orders": len(orders["orders"]),
            "received": sum(b["received"] for b in stock["books"]),
            "reservations": len(stock["reservations"]),
            "ledger_sales": len(ledger["sales"]), "ledger_entries": ledger["entries"],
            "notifications": notes["messages"], "notified_events": len(notes["events"]),
            "reviews": reviews["reviews"], "rating_versions": sum(
                r["version"] for r in reviews["ratings"]),
            "cart": await shopper.cart(),
        }

    async def check(self, quiet_timeout: float = 30.0) -> list[CheckResult]:
        """Wait until quiet, then run every invariant; fail with the violations."""
        busy = await CHECKS.wait_quiet(self.access, quiet_timeout)
        assert busy is None, f"the system did not go quiet: {busy}"
        results = await CHECKS.run(self.access)
        violations = [f"{r.name}: {v}" for r in results for v in r.violations]
        assert not violations, "\n".join(violations)
        return results


# -- pausing a saga's driver (takeover and operator tests) -------------------------


def process_state(runner: Runner, instance: str) -> str:
    """The kernel's state letter of an instance's process: `T` once it is stopped."""
    pid = runner.status().pid_of(instance)
    if not pid:
        return "gone"
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


async def operator_call(bookstore: Bookstore, url: str, method: str, path: str,
                        body: Any = None) -> Any:
    """An operator request to one replica (`url`), not to whichever the service list names."""
    service = next(name for name, urls in bookstore.runner.addresses.items() if url in urls)
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, url + path, json=body,
                                      headers=bookstore.access.auth_headers(service))
    assert response.status_code < 400, response.text
    return response.json()


@dataclass
class PausedDriver:
    """An orders replica stopped (SIGSTOP) in the middle of driving a saga."""

    instance: str  # e.g. orders-1
    url: str
    other_url: str  # the replica still running
    saga: dict[str, Any]  # the saga as it stood when its driver stopped
    shopper: Shopper
    checkout: asyncio.Task[httpx.Response]

    @property
    def saga_id(self) -> str:
        return str(self.saga["id"])


async def pause_a_saga_driver(bookstore: Bookstore, replica: int, point: str,
                              credit: int = 5000, price_cents: int = 1000) -> PausedDriver:
    """Check out until orders-`replica` drives a saga to `point`, where it stops itself.

    Only that replica is armed (`stop:<point>`); checkouts the other replica takes
    simply complete. Undo with `resume_driver`.
    """
    urls = bookstore.runner.addresses["orders"]
    url, other_url = urls[replica], urls[1 - replica]
    instance = f"orders-{replica}"
    book = await bookstore.new_book(copies=10, price_cents=price_cents)
    shoppers = [await bookstore.customer(credit=credit) for _ in range(6)]
    for shopper in shoppers:  # before the pause: carts go through either replica
        assert (await shopper.add_to_cart(book)).status_code == 200
    await operator_call(bookstore, url, "POST", "/internal/faults", {"points": f"stop:{point}"})
    for shopper in shoppers:
        checkout = asyncio.create_task(shopper.checkout())
        deadline = asyncio.get_running_loop().time() + 15
        while not checkout.done() and process_state(bookstore.runner, instance) != "T":
            assert asyncio.get_running_loop().time() < deadline, f"{instance} never paused"
            await asyncio.sleep(0.05)
        if process_state(bookstore.runner, instance) == "T":
            sagas = await operator_call(bookstore, other_url, "GET",
                                        "/internal/sagas?status=active")
            held = [s for s in sagas["items"] if s["owner"].startswith(f"{instance}:")]
            assert len(held) == 1, sagas
            saga = await operator_call(bookstore, other_url, "GET",
                                       f"/internal/sagas/{held[0]['id']}")
            return PausedDriver(instance, url, other_url, saga, shopper, checkout)
        assert (await checkout).status_code == 201  # the other replica drove it to its end
    raise AssertionError(f"no checkout reached {instance}")


async def resume_driver(bookstore: Bookstore, paused: PausedDriver) -> None:
    """SIGCONT the paused replica, disarm it, and collect its checkout's answer."""
    bookstore.runner.kill(paused.instance, signal.SIGCONT)
    await operator_call(bookstore, paused.url, "DELETE", "/internal/faults")
    try:
        await asyncio.wait_for(paused.checkout, 30)
    except httpx.TransportError:
        pass  # the gateway may have given up on the paused replica


async def saga_on(bookstore: Bookstore, url: str, saga_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = await operator_call(bookstore, url, "GET",
                                                 f"/internal/sagas/{saga_id}")
    return detail


async def saga_ended(bookstore: Bookstore, url: str, saga_id: str,
                     timeout: float) -> dict[str, Any]:
    """The saga (read from the replica at `url`) once it is completed, compensated or failed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        saga = await saga_on(bookstore, url, saga_id)
        if saga["status"] in ("completed", "compensated", "failed"):
            return saga
        assert asyncio.get_running_loop().time() < deadline, f"saga still active: {saga}"
        await asyncio.sleep(0.1)


async def leases_lost(url: str) -> float:
    """`msa_saga_leases_lost_total` of the checkout saga in one replica's /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("msa_saga_leases_lost_total{") and 'saga="checkout"' in line)


async def customer_with_things(bookstore: Bookstore) -> tuple[Shopper, dict[str, str]]:
    """A customer with an order, a message about it, books in the cart and a review;
    (the customer, their ids: book_id, order_id, message_id, review_text)."""
    book = await bookstore.new_book(copies=6)
    owner = await bookstore.customer(credit=5000)
    await owner.add_to_cart(book)
    order = await owner.settled((await owner.checkout()).json()["id"])
    for _ in range(200):
        inbox = (await owner.call("GET", "/api/notifications")).json()["items"]
        if inbox:
            break
        await asyncio.sleep(0.05)
    assert inbox, "no message about the order arrived"
    assert (await owner.add_to_cart(book, 2)).status_code == 200
    review = await owner.review(book, 4, f"mine {uuid.uuid4().hex}")  # bought it above
    assert review.status_code == 200, review.text
    return owner, {"order_id": order["id"], "message_id": inbox[0]["id"], "book_id": book,
                   "review_text": review.json()["text"]}
