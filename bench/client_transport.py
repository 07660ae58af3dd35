"""CPU per call of HTTP clients, as a service calls another: the choice behind msa.transport.

    python -m bench.client_transport [--calls 2000] [--rounds 3]

A real uvicorn (httptools, uvloop, as `msa.serve` runs services) serves a FastAPI
route that validates a ~1 KB JSON body and returns it, in its own process on
loopback. This process, on uvloop, POSTs the body N times one after another, then
N times 16 at a time, with each client: httpx, aiohttp, msa's own HTTP transport
alone, and the whole `msa.client.ServiceClient` (deadline header, breaker, bulkhead,
metrics) on it. CPU is `time.process_time()` of this process only (the client's
cost). Candidates take turns in every round; the table gives min–max over rounds.
"""

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

BODY = {"reference": "r" * 36, "user_id": "u" * 36,
        "items": [{"book_id": f"{i:036d}", "quantity": i % 5 + 1} for i in range(16)]}
PATH = "/internal/echo"
CONCURRENCY = 16

Call = Callable[[], Awaitable[Any]]


def serve(port: int) -> None:
    """The callee: FastAPI on uvicorn, one worker."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Item(BaseModel):
        book_id: str
        quantity: int

    class Reservation(BaseModel):
        reference: str
        user_id: str
        items: list[Item]

    app = FastAPI()

    @app.post(PATH)
    async def echo(reservation: Reservation) -> Reservation:
        return reservation

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


async def measure(call: Call, calls: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs per call, calls per second of wall time)."""
    for _ in range(50):  # warm: connections open, code paths hot
        await call()
    per_worker = calls // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_worker * concurrency
    return cpu / done * 1e6, done / wall


async def candidates(base: str) -> tuple[dict[str, Call], Callable[[], Awaitable[None]]]:
    import aiohttp
    import httpx

    from msa.client import ServiceClient
    from msa.transport import OutgoingRequest
    from msa.transport.http import HttpTransport

    if importlib.util.find_spec("sniffio") is None:
        # httpx tries `import sniffio` on each request; a missing module is searched for
        # on sys.path every time. msa.client before this bench marked it absent once.
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    body = json.dumps(BODY).encode()
    headers = {"content-type": "application/json"}
    hx = httpx.AsyncClient(limits=httpx.Limits(max_connections=64,
                                               max_keepalive_connections=32))
    aio = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    raw = HttpTransport()
    client = ServiceClient("bench", "echo", [base])

    async def with_httpx() -> Any:
        response = await hx.post(base + PATH, json=BODY)
        assert response.status_code == 200, response.text
        return response.json()

    async def with_aiohttp() -> Any:
        async with aio.post(base + PATH, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def with_msa_transport() -> Any:
        request = OutgoingRequest("POST", PATH, dict(headers), body)
        response = await raw.send(base, request)
        assert response.status_code == 200, response.text
        return response.json()

    async def with_service_client() -> Any:
        return await client.post_json(PATH, BODY)

    async def close() -> None:
        await hx.aclose()
        await aio.close()
        await raw.aclose()
        await client.aclose()

    return {"httpx": with_httpx, "aiohttp": with_aiohttp, "msa transport": with_msa_transport,
            "msa ServiceClient": with_service_client}, close


async def run(base: str, calls: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    chosen, close = await candidates(base)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in chosen}
    try:
        for _ in range(rounds):
            for name, call in chosen.items():
                for label, concurrency in (("sequential", 1), ("16 at once", CONCURRENCY)):
                    cpu, rate = await measure(call, calls, concurrency)
                    results[name].setdefault(f"{label} µs", []).append(cpu)
                    results[name].setdefault(f"{label} /s", []).append(rate)
    finally:
        await close()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import uvloop

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.client_transport", "--serve",
                               str(port)], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        results = uvloop.run(run(f"http://127.0.0.1:{port}", args.calls, args.rounds))
    finally:
        server.terminate()
        server.wait(10)
    columns = ["sequential µs", "16 at once µs", "sequential /s", "16 at once /s"]
    print(f"{'client':<20}" + "".join(f"{c:>20}" for c in columns))
    for name, figures in results.items():
        cells = [f"{min(figures[c]):.0f}–{max(figures[c]):.0f}" for c in columns]
        print(f"{name:<20}" + "".join(f"{cell:>20}" for cell in cells))


if __name__ == "__main__":
    main()
