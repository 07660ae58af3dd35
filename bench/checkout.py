"""Checkout throughput and latency: completed sagas per second, p50/p99 checkout latency.

    python -m bench.checkout [--mode process|monolith] [--seconds 20] [--workers 32]
                             [--rate N]

Closed loop by default: each worker fills a cart and checks out, again and again.
With --rate, checkouts start at a fixed rate (open loop) to measure latency at a
given load. A checkout's latency is that of `POST /api/orders/checkout`, which
answers once the saga has ended (5 steps across inventory, wallet and ledger).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import httpx

from bench.common import save, start, summary
from bookstore.seed import seed
from msa.checks import SystemAccess

PASSWORD = "a-long-bench-password-1"


async def prepare(runner, users: int) -> tuple[list[dict[str, str]], str]:
    access = SystemAccess(runner.addresses, data_dir=runner.data_dir)  # signs as the operator
    await seed(access)
    admin_email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
    await access.post("identity", "/internal/identity/admins",
                      {"email": admin_email, "password": PASSWORD},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    async with httpx.AsyncClient(base_url=runner.gateway_url, timeout=60) as http:
        async def login(email: str) -> str:
            r = await http.post("/api/identity/login", json={"email": email, "password": PASSWORD})
            return str(r.json()["access_token"])

        admin = {"Authorization": f"Bearer {await login(admin_email)}"}
        book = (await http.get("/api/catalog/books", params={"limit": 1})).json()["items"][0]
        r = await http.post("/api/inventory/admin/restock",
                            json={"book_id": book["id"], "quantity": 100_000},
                            headers={**admin, "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 200, r.text
        shoppers = []
        for i in range(users):
            email = f"bench{i}-{uuid.uuid4().hex[:6]}@example.com"
            r = await http.post("/api/identity/register",
                                json={"email": email, "password": PASSWORD},
                                headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
            auth = {"Authorization": f"Bearer {await login(email)}"}
            r = await http.post("/api/wallet/topups", json={"amount_cents": 1_000_000},
                                headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
            shoppers.append(auth)
    await access.aclose()
    return shoppers, book["id"]


async def one_checkout(http: httpx.AsyncClient, auth: dict[str, str], book: str,
                       latencies: list[float], outcomes: dict[str, int]) -> None:
    r = await http.post("/api/orders/cart/items", json={"book_id": book, "quantity": 1},
                        headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
    if r.status_code != 200:
        outcomes["cart-error"] = outcomes.get("cart-error", 0) + 1
        return
    began = time.perf_counter()
    r = await http.post("/api/orders/checkout",
                        headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
    latencies.append(time.perf_counter() - began)
    status = r.json().get("status", str(r.status_code)) if r.status_code < 500 else "5xx"
    outcomes[status] = outcomes.get(status, 0) + 1


async def drive(runner, seconds: float, workers: int, rate: float | None) -> dict:
    shoppers, book = await prepare(runner, workers)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    limits = httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers * 2)
    async with httpx.AsyncClient(base_url=runner.gateway_url, timeout=60, limits=limits) as http:
        began = time.perf_counter()
        end = began + seconds
        if rate is None:
            async def worker(auth: dict[str, str]) -> None:
                while time.perf_counter() < end:
                    await one_checkout(http, auth, book, latencies, outcomes)

            await asyncio.gather(*(worker(auth) for auth in shoppers))
        else:
            free = asyncio.Queue[dict[str, str]]()
            for auth in shoppers:
                free.put_nowait(auth)
            tasks = []

            async def launch(auth: dict[str, str]) -> None:
                try:
                    await one_checkout(http, auth, book, latencies, outcomes)
                finally:
                    free.put_nowait(auth)

            n = 0
            while time.perf_counter() < end:
                due = began + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(launch(await free.get())))
                n += 1
            await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    confirmed = outcomes.get("CONFIRMED", 0)
    return {"seconds": round(elapsed, 1), "workers": workers, "rate": rate,
            "confirmed_per_second": round(confirmed / elapsed, 1), "outcomes": outcomes,
            "latency_ms": {k: round(v * 1000, 1) for k, v in summary(latencies).items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None, help="open loop: checkouts/s")
    parser.add_argument("--no-tracing", action="store_true", help="MSA_TRACING=false")
    args = parser.parse_args()
    # a throughput benchmark: every customer comes from 127.0.0.1 as fast as it can
    unlimited = {f"GATEWAY_{kind}_{what}": "1000000" for kind in ("IP", "USER", "LOGIN")
                 for what in ("RATE", "BURST")}
    if args.no_tracing:
        unlimited["MSA_TRACING"] = "false"
    runner = start(args.mode, IDENTITY_SCRYPT_LOG2N="11", **unlimited)
    try:
        result = {"mode": args.mode, **asyncio.run(
            drive(runner, args.seconds, args.workers, args.rate))}
    finally:
        runner.stop()
    print(f"{args.mode}: {result['confirmed_per_second']} completed checkouts/s, latency "
          f"p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms "
          f"({result['outcomes']})")
    suffix = (f"-rate{int(args.rate)}" if args.rate else "") + (
        "-untraced" if args.no_tracing else "")
    print(f"saved {save(f'checkout-{args.mode}{suffix}', result)}")


if __name__ == "__main__":
    main()
