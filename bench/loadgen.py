"""The load generator: its own process, so that its CPU is counted apart from the system's.

    python -m bench.loadgen < job.json

It reads one job (JSON) from stdin, prints `ready`, waits for a line on stdin (the
caller reads the system's CPU meanwhile), runs, and prints one JSON result line.

Closed loop (`workers`): each worker starts its next operation when its last one
ends. Open loop (`rate`): operation i is due at start + i/rate whatever happened
before, and its latency is measured from that intended time, so a stall shows in
the latencies of everything it delayed (no coordinated omission).

Warm-up (`warmup`: seconds): before `ready`, the closed loop runs that long at the
job's `workers`, unmeasured, so that what a system does once in its life under a
new load (its pools open connections, each new PostgreSQL backend loads its caches
and learns the statements' types, plans get cached) is not counted per operation.

Operations (`kind`):
- `checkout-msa`: our public API through the gateway: add the book to the cart,
  then `POST /api/orders/checkout`, each with an Idempotency-Key;
- `checkout-peer`: `POST /checkout {"user", "book", "price"}` on a peer's front;
- `get`: `GET` one of `paths`, round robin.
A customer has at most one operation in flight (a cart is per customer).

It runs on uvloop with the platform's own HTTP/1.1 client (`msa.transport.http`,
keep-alive connections, several times less CPU per request than httpx: see
`bench/client_transport.py`), so that it takes as little as it can of the cores the
system under test shares with it.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
import uuid
from typing import Any

import orjson
import uvloop

from msa.transport import ConnectFailed, ConnectionBroken, OutgoingRequest, Response
from msa.transport.http import HttpTransport

TIMEOUT = 60.0  # seconds for one request


class Http:
    """GET and POST against one base address, on keep-alive connections."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.transport = HttpTransport()

    async def get(self, path: str) -> Response:
        return await self._send("GET", path, {}, b"")

    async def post(self, path: str, json: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
        sent = {name.lower(): value for name, value in (headers or {}).items()}
        body = b""
        if json is not None:
            body = orjson.dumps(json)
            sent["content-type"] = "application/json"
        return await self._send("POST", path, sent, body)

    async def _send(self, method: str, path: str, headers: dict[str, str],
                    body: bytes) -> Response:
        async with asyncio.timeout(TIMEOUT):
            return await self.transport.send(self.base,
                                             OutgoingRequest(method, path, headers, body))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Operation:
    """One kind of work against the system, and what each attempt came to."""

    def __init__(self, job: dict[str, Any], http: Http) -> None:
        self.job = job
        self.http = http
        self.books: list[dict[str, Any]] = job.get("books", [])
        self.paths: list[str] = job.get("paths", [])
        self.zipf = job.get("books_drawn") == "zipf"
        self.rng = random.Random(job.get("seed", 1))
        self.count = 0

    def book(self) -> dict[str, Any]:
        if len(self.books) == 1:
            return self.books[0]
        if self.zipf:  # Zipf s=1 over the catalogue's order
            weights = [1 / (rank + 1) for rank in range(len(self.books))]
            return self.rng.choices(self.books, weights)[0]
        return self.rng.choice(self.books)

    async def run(self, customer: dict[str, Any]) -> str:
        """One operation; its outcome (e.g. CONFIRMED, 200, http-503, error)."""
        kind = self.job["kind"]
        self.count += 1
        try:
            if kind == "get":
                path = self.paths[self.count % len(self.paths)]
                response = await self.http.get(path)
                return str(response.status_code)
            book = self.book()
            if kind == "checkout-peer":
                response = await self.http.post("/checkout", json={
                    "user": customer["user"], "book": book["id"], "price": book["price"]})
                return _status(response)
            auth = {"Authorization": f"Bearer {customer['token']}"}
            response = await self.http.post(
                "/api/orders/cart/items", json={"book_id": book["id"], "quantity": 1},
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            if response.status_code >= 300:
                return f"cart-http-{response.status_code}"
            response = await self.http.post(
                "/api/orders/checkout", headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            return _status(response)
        except (ConnectFailed, ConnectionBroken, TimeoutError, ValueError) as exc:
            return f"error-{type(exc).__name__}"


def _status(response: Response) -> str:
    if response.status_code >= 300:
        return f"http-{response.status_code}"
    return str(response.json().get("status", response.status_code))


async def run(job: dict[str, Any]) -> dict[str, Any]:
    customers: list[dict[str, Any]] = job.get("customers") or [{}] * 64
    http = Http(job["base_url"])
    try:
        operation = Operation(job, http)
        workers = int(job.get("workers", 32))
        if job.get("warmup"):  # seconds of the closed loop, not measured
            warm_until = time.perf_counter() + float(job["warmup"])
            await _closed_loop(operation.run, customers, workers, warm_until)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        cpu = _cpu()
        began = time.perf_counter()
        end = began + float(job["seconds"])

        async def once(customer: dict[str, Any], due: float) -> None:
            outcome = await operation.run(customer)
            latencies.append((time.perf_counter() - due) * 1000)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        if job.get("rate"):
            await _open_loop(once, customers, float(job["rate"]), began, end)
        else:
            await _closed_loop(lambda customer: once(customer, time.perf_counter()),
                               customers, workers, end)
        elapsed = time.perf_counter() - began
        return {"seconds": elapsed, "operations": len(latencies), "outcomes": outcomes,
                "latencies_ms": [round(value, 3) for value in latencies],
                "loadgen_cpu_seconds": _cpu() - cpu}
    finally:
        await http.transport.aclose()


async def _closed_loop(once: Any, customers: list[dict[str, Any]], workers: int,
                       end: float) -> None:
    """`workers` customers, each starting its next operation when its last one ends."""
    async def worker(customer: dict[str, Any]) -> None:
        while time.perf_counter() < end:
            await once(customer)

    await asyncio.gather(*(worker(customers[i % len(customers)]) for i in range(workers)))


async def _open_loop(once: Any, customers: list[dict[str, Any]], rate: float, began: float,
                     end: float) -> None:
    free: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for customer in customers:
        free.put_nowait(customer)
    tasks: set[asyncio.Task[None]] = set()

    async def launch(customer: dict[str, Any], due: float) -> None:
        try:
            await once(customer, due)
        finally:
            free.put_nowait(customer)

    n = 0
    while (due := began + n / rate) < end:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        customer = await free.get()  # a wait here counts: latency runs from `due`
        task = asyncio.create_task(launch(customer, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.gather(*tasks)


def main() -> None:
    job = json.loads(sys.stdin.readline())
    print(json.dumps(uvloop.run(run(job))), flush=True)


if __name__ == "__main__":
    main()
