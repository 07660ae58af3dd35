"""The bookstore's chaos workload: customers who browse, top up, buy and review.

`msa chaos` drives it (system.toml: `workload = "bookstore.workload:WORKLOAD"`).
Each client acts for customers of its own, one request at a time, through the
gateway; every write carries an idempotency key and is kept with its outcome. One
customer in five has little credit (their checkouts are cancelled and
compensated); a few "hot" books hold a copy or two, so that checkouts contend for
the last copies. An administrator restocks hot and ordinary books now and then.

After healing, `settle` repeats each write whose outcome is unknown with the same
key until the answer is definite (`Idempotent-Replayed` tells whether it had
happened). `verify` then checks, per customer, that every acknowledged write is
there with its effect, that the wallet's top-ups and the orders are exactly those
whose keys were answered (each applied once), that every restocked book received
exactly the acknowledged restocks, that each review is the last one written, and
that each balance is its top-ups less its confirmed orders.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from msa import Answer, CheckResult, MsaError, Outcome, WorkloadContext

PASSWORD = "chaos-workload-password-1"
HOT_BOOKS, HOT_COPIES, HOT_PRICE = 4, 2, 1500
REVIEWED = 8
"""Reviews go to the first books of the catalogue, so that each book has several."""
TOKEN_AGE = 600.0
"""Seconds before a customer logs in again (access tokens live 15 minutes)."""
SETTLE_TRIES = 12
RESOLVED = ("top-up", "checkout", "review", "restock")


@dataclass
class Customer:
    """A user the workload acts as; `client` is the one client that uses it."""

    email: str
    client: int
    poor: bool = False
    user_id: str = ""
    token: str = ""
    login_at: float = 0.0
    bought: list[str] = field(default_factory=list)  # confirmed: the books it may review


@dataclass
class Write:
    """A keyed write and what it was answered, then and (if unknown) after healing."""

    kind: str
    who: Customer
    method: str
    path: str
    body: Any
    key: str
    answer: Answer
    retry: Answer | None = None

    @property
    def final(self) -> Answer:
        return self.retry or self.answer


@dataclass
class _Run:
    admin: Customer
    books: list[str]
    received: dict[str, int]
    """Copies each book had received before the run (restocks are checked against it)."""
    customers: list[Customer] = field(default_factory=list)
    hot: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)


class BookstoreWorkload:
    """See the module docstring; `WORKLOAD` is the instance system.toml names."""

    env = {
        "IDENTITY_SCRYPT_LOG2N": "11",  # cheap password hashes: many users register
        # every client is on 127.0.0.1: the gateway's per-address limit must not throttle them
        "GATEWAY_IP_RATE": "100000", "GATEWAY_IP_BURST": "100000",
        "GATEWAY_LOGIN_RATE": "100000", "GATEWAY_LOGIN_BURST": "100000",
        # cheap hashes (2**11): many users register at once, all from 127.0.0.1
        "IDENTITY_HASH_SLOTS": "64", "IDENTITY_HASH_SLOTS_PER_ADDRESS": "64",
    }

    async def prepare(self, ctx: WorkloadContext) -> None:
        admin = Customer(f"chaos-admin-{uuid.uuid4().hex[:10]}@example.com", -1)
        created = await ctx.access.post("identity", "/internal/identity/admins",
                                        {"email": admin.email, "password": PASSWORD},
                                        headers={"Idempotency-Key": uuid.uuid4().hex})
        admin.user_id = str(created["id"])
        await _login(ctx, admin)
        stock = (await ctx.access.get("inventory", "/internal/inventory/audit"))["books"]
        run = _Run(admin, [str(row["book_id"]) for row in stock],
                   {str(row["book_id"]): row["received"] for row in stock})
        ctx.state["bookstore"] = run
        run.hot = [await _hot_book(ctx, run, i) for i in range(HOT_BOOKS)]
        limit = asyncio.Semaphore(8)

        async def customer(i: int) -> Customer:
            async with limit:
                return await _register(ctx, run, i)

        run.customers = list(await asyncio.gather(*(customer(i) for i in range(ctx.users))))

    async def client(self, ctx: WorkloadContext, index: int) -> None:
        run: _Run = ctx.state["bookstore"]
        rng = ctx.rng(index)
        mine = [who for who in run.customers if who.client == index]
        while mine and not ctx.stopping.is_set():
            who, roll = rng.choice(mine), rng.random()
            if roll < 0.03:
                hot = rng.random() < 0.5
                answer = (await _write(ctx, run, "restock", run.admin, "POST",
                                       "/api/inventory/admin/restock",
                                       {"book_id": rng.choice(run.hot if hot else run.books),
                                        "quantity": rng.randint(1, 2) if hot
                                        else rng.randint(5, 10)})).answer
            elif roll < 0.14:
                answer = await ctx.call("browse", "GET",
                                        f"/api/catalog/books?limit=20&offset={rng.randrange(200)}")
            elif roll < 0.22:
                answer = await ctx.call("book-page", "GET",
                                        f"/api/books/{rng.choice(run.books)}/page")
            elif roll < 0.34 and not who.poor:
                answer = (await _write(ctx, run, "top-up", who, "POST", "/api/wallet/topups",
                                       {"amount_cents": rng.choice((1000, 2500, 5000, 10_000))})
                          ).answer
            elif roll < 0.88 or not who.bought:  # only buyers review
                answer = await _checkout(ctx, run, who, rng)
            else:
                answer = (await _write(
                    ctx, run, "review", who, "PUT",
                    f"/api/reviews/books/{rng.choice(who.bought[-REVIEWED:])}/mine",
                    {"rating": rng.randint(1, 5), "text": f"chaos {rng.random():.6f}"})).answer
            # a real client backs off when the store is in trouble
            await asyncio.sleep(rng.uniform(0, 0.05) if answer.ok else rng.uniform(0.2, 0.6))

    async def settle(self, ctx: WorkloadContext) -> None:
        run: _Run = ctx.state["bookstore"]
        limit = asyncio.Semaphore(8)

        async def resolve(write: Write) -> None:
            async with limit:
                for attempt in range(SETTLE_TRIES):
                    await _fresh(ctx, write.who)
                    write.retry = await ctx.call(write.kind, write.method, write.path,
                                                 json_body=write.body, key=write.key,
                                                 token=write.who.token)
                    if write.retry.outcome is not Outcome.UNKNOWN:
                        return
                    await asyncio.sleep(min(0.5 * 2 ** attempt, 5.0))

        await asyncio.gather(*(resolve(w) for w in run.writes
                               if w.answer.outcome is Outcome.UNKNOWN))

    async def verify(self, ctx: WorkloadContext) -> list[CheckResult]:
        run: _Run = ctx.state["bookstore"]
        orders = (await ctx.access.get("orders", "/internal/orders/audit"))["orders"]
        stock = (await ctx.access.get("inventory", "/internal/inventory/audit"))["books"]
        ours = {who.user_id for who in run.customers}
        kept = CheckResult("acknowledged-writes", dict(Counter(
            [w.kind for w in run.writes if w.answer.ok]
            + [_ending(order) for order in orders if str(order["user_id"]) in ours])))
        once = CheckResult("applied-once", _unknown_counts(run.writes))
        once.violations += [f"{w.kind} {w.key} of {w.who.email}: still unknown after "
                            f"{SETTLE_TRIES} tries" for w in run.writes
                            if w.final.outcome is Outcome.UNKNOWN]
        await asyncio.gather(*(_check_customer(ctx, run, who, orders, kept, once)
                               for who in run.customers))
        _check_restocks(run, stock, once)
        await _check_reviews(ctx, run, kept)
        return [kept, once]


WORKLOAD = BookstoreWorkload()


async def _login(ctx: WorkloadContext, who: Customer) -> None:
    answer = await ctx.call("login", "POST", "/api/identity/login",
                            json_body={"email": who.email, "password": PASSWORD})
    if answer.ok:
        who.token, who.login_at = answer.body["access_token"], time.monotonic()


async def _fresh(ctx: WorkloadContext, who: Customer) -> None:
    if time.monotonic() - who.login_at > TOKEN_AGE:
        await _login(ctx, who)


async def _write(ctx: WorkloadContext, run: _Run, kind: str, who: Customer, method: str,
                 path: str, body: Any = None) -> Write:
    await _fresh(ctx, who)
    key = uuid.uuid4().hex
    answer = await ctx.call(kind, method, path, json_body=body, key=key, token=who.token)
    write = Write(kind, who, method, path, body, key, answer)
    run.writes.append(write)
    return write


async def _checkout(ctx: WorkloadContext, run: _Run, who: Customer,
                    rng: random.Random) -> Answer:
    book = rng.choice(run.hot) if rng.random() < 0.3 else rng.choice(run.books)
    await _fresh(ctx, who)
    await ctx.call("cart", "POST", "/api/orders/cart/items", key=uuid.uuid4().hex,
                   json_body={"book_id": book, "quantity": rng.choice((1, 1, 2))},
                   token=who.token)
    answer = (await _write(ctx, run, "checkout", who, "POST", "/api/orders/checkout")).answer
    if answer.ok and (answer.body or {}).get("status") == "CONFIRMED":
        who.bought.append(book)
    return answer


async def _register(ctx: WorkloadContext, run: _Run, i: int) -> Customer:
    who = Customer(f"chaos-{i}-{uuid.uuid4().hex[:10]}@example.com", i % ctx.clients,
                   poor=i % 5 == 4)
    created = await ctx.call("register", "POST", "/api/identity/register", key=uuid.uuid4().hex,
                             json_body={"email": who.email, "password": PASSWORD})
    who.user_id = str(_must(created, "register")["id"])
    await _login(ctx, who)
    credit = 300 if who.poor else 20_000
    _must((await _write(ctx, run, "top-up", who, "POST", "/api/wallet/topups",
                        {"amount_cents": credit})).answer, "top-up")
    return who


async def _hot_book(ctx: WorkloadContext, run: _Run, i: int) -> str:
    digits = "979" + str(uuid.uuid4().int)[:9]
    weighted = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(digits))
    book = {"isbn": digits + str(-weighted % 10), "title": f"The Last Copies, vol. {i + 1}",
            "author": "A. Workload", "price_cents": HOT_PRICE, "year": 2024}
    created = await ctx.call("admin", "POST", "/api/catalog/admin/books", json_body=book,
                             key=uuid.uuid4().hex, token=run.admin.token)
    book_id = str(_must(created, "new book")["id"])
    for _ in range(300):  # inventory learns of the book from catalog's event
        if (await ctx.call("stock", "GET", f"/api/inventory/stock/{book_id}")).ok:
            break
        await asyncio.sleep(0.1)
    _must((await _write(ctx, run, "restock", run.admin, "POST", "/api/inventory/admin/restock",
                        {"book_id": book_id, "quantity": HOT_COPIES})).answer, "restock")
    return book_id


def _must(answer: Answer, what: str) -> Any:
    if not answer.ok:
        raise MsaError(f"workload preparation failed: {what} answered {answer.status}")
    return answer.body


def _unknown_counts(writes: list[Write]) -> dict[str, int]:
    """How the writes answered "unknown" turned out when repeated with their key."""
    names = {(Outcome.OK, True): "had_happened", (Outcome.OK, False): "applied_on_retry",
             (Outcome.FAILED, True): "had_been_refused",
             (Outcome.FAILED, False): "refused_on_retry"}
    found: Counter[str] = Counter()
    for w in writes:
        if w.answer.outcome is Outcome.UNKNOWN and w.retry is not None:
            found["unknown_" + names.get((w.retry.outcome, w.retry.replayed), "unresolved")] += 1
    return dict(sorted(found.items()))


def _ending(order: dict[str, Any]) -> str:
    """`confirmed`, or `cancelled: ` and the reason's first words (no ids or timings)."""
    if order["status"] != "CANCELLED":
        return str(order["status"]).lower()
    return "cancelled: " + str(order.get("reason") or "").split(":")[0].split("(")[0].strip()


def _acknowledged(run: _Run, who: Customer, kind: str) -> list[Write]:
    return [w for w in run.writes if w.who is who and w.kind == kind and w.final.ok]


async def _check_customer(ctx: WorkloadContext, run: _Run, who: Customer,
                          orders: list[dict[str, Any]], kept: CheckResult,
                          once: CheckResult) -> None:
    await _fresh(ctx, who)
    history = await ctx.call("verify", "GET", "/api/wallet/transactions?limit=200",
                             token=who.token)
    balance = await ctx.call("verify", "GET", "/api/wallet", token=who.token)
    if not (history.ok and balance.ok) or len(history.body) >= 200:
        once.violations.append(f"cannot read the whole wallet of {who.email}")
        return
    topups = {str(t["transaction_id"]): t["amount_cents"] for t in history.body
              if t["kind"] == "topup"}
    mine = {str(o["id"]): o for o in orders if str(o["user_id"]) == who.user_id}
    for kind, found, ids in (
            ("top-up", topups, {str(w.final.body["transaction_id"]): w
                                for w in _acknowledged(run, who, "top-up")}),
            ("order", mine, {str(w.final.body["id"]): w
                             for w in _acknowledged(run, who, "checkout")})):
        for ident, write in ids.items():
            if ident not in found:
                into = kept if write.answer.ok else once
                into.violations.append(f"{who.email}: acknowledged {kind} {ident} is missing")
        once.violations += [f"{who.email}: {kind} {ident} applied but never acknowledged"
                            for ident in found if ident not in ids]
    pending = [ident for ident, order in mine.items() if order["status"] == "PENDING"]
    kept.violations += [f"{who.email}: order {ident} still PENDING" for ident in pending]
    spent = sum(o["total_cents"] for o in mine.values() if o["status"] == "CONFIRMED")
    if balance.body["balance_cents"] != sum(topups.values()) - spent:
        once.violations.append(
            f"{who.email}: balance {balance.body['balance_cents']} != top-ups "
            f"{sum(topups.values())} - confirmed orders {spent}")


def _check_restocks(run: _Run, stock: list[dict[str, Any]], once: CheckResult) -> None:
    received = {str(row["book_id"]): row["received"] for row in stock}
    added: Counter[str] = Counter()
    for w in run.writes:
        if w.kind == "restock":
            added[w.body["book_id"]] += w.body["quantity"] if w.final.ok else 0
    for book, copies in added.items():
        expected = run.received.get(book, 0) + copies
        if received.get(book) != expected:
            once.violations.append(f"book {book}: received {received.get(book)} but had "
                                   f"{run.received.get(book, 0)} + acknowledged restocks of "
                                   f"{copies}")


async def _check_reviews(ctx: WorkloadContext, run: _Run, kept: CheckResult) -> None:
    """The stored review is the last one acknowledged. Pairs with an unknown write are
    left out: a timed-out request may still land after a later one."""
    writes: dict[tuple[str, str], list[Write]] = {}
    for w in run.writes:
        if w.kind == "review":
            writes.setdefault((w.path.split("/")[-2], w.who.user_id), []).append(w)
    expected = {pair: [w for w in ws if w.answer.ok][-1] for pair, ws in writes.items()
                if any(w.answer.ok for w in ws)
                and all(w.answer.outcome is not Outcome.UNKNOWN for w in ws)}
    for (book, _), w in expected.items():  # each reviewer's own review, as they see it
        await _fresh(ctx, w.who)
        mine = await ctx.call("verify", "GET", f"/api/reviews/books/{book}/mine",
                              token=w.who.token)
        stored = (mine.body or {}).get("rating") if mine.ok else None
        if stored != w.body["rating"]:
            kept.violations.append(f"review of {book} by {w.who.email}: rating "
                                   f"{stored}, last acknowledged {w.body['rating']}")
