"""What a flood of sign-ins from one address costs a real user's sign-in.

    python -m bench.login_flood [--mode process|monolith] [--seconds 10] [--flooders 96]

The system runs with its production defaults for sign-in (scrypt 2**15, the
gateway's per-address sign-in limit, identity's hash slots and failure throttling).
`--flooders` clients on 127.0.0.1 try random emails as fast as they can; one real
user on 127.0.0.2 (another address, as another customer would be) signs in once a
second, first with no flood (the baseline), then during it. Reports the flood's
answers by status and the real user's sign-in latency in each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.ours import ROOT
from bench.startup import save
from bench.stats import percentile
from msa.system import load_system
from msa.tools.runner import Runner


def start(mode: str) -> Runner:
    """A fresh system on free ports with sign-in's production settings (nothing lowered)."""
    data = Path(tempfile.mkdtemp(prefix=f"msa-bench-login-{mode}-"))
    runner = Runner(load_system(ROOT / "system.toml"), data_dir=data, mode=mode,
                    free_ports=True, env="test")
    try:
        runner.start()
    except BaseException:
        runner.stop()
        raise
    return runner


def summary(values: list[float]) -> dict[str, float]:
    found = {f"p{q}": percentile(values, q) for q in (50, 90, 99)}
    return {key: value for key, value in found.items() if value is not None}

PASSWORD = "a-long-bench-password-1"
REAL_USER_ADDRESS = "127.0.0.2"


async def real_user(base_url: str, email: str, seconds: float) -> tuple[list[float], Counter[int]]:
    """Sign in once a second for `seconds`: (latencies, statuses)."""
    transport = httpx.AsyncHTTPTransport(local_address=REAL_USER_ADDRESS)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=60) as http:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            began = time.perf_counter()
            answer = await http.post("/api/identity/login",
                                     json={"email": email, "password": PASSWORD})
            latencies.append(time.perf_counter() - began)
            statuses[answer.status_code] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))
    return latencies, statuses


async def flood(base_url: str, flooders: int, seconds: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=flooders, max_keepalive_connections=flooders)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        end = time.perf_counter() + seconds

        async def one_flooder() -> None:
            while time.perf_counter() < end:
                try:
                    answer = await http.post("/api/identity/login", json={
                        "email": f"x{uuid.uuid4().hex[:10]}@example.com", "password": "guess"})
                    statuses[answer.status_code] += 1
                except httpx.TransportError:
                    statuses[0] += 1

        await asyncio.gather(*(one_flooder() for _ in range(flooders)))
    return statuses


def _ms(latencies: list[float]) -> dict[str, float]:
    return {k: round(v * 1000, 1) for k, v in summary(latencies).items()} | {
        "max": round(max(latencies) * 1000, 1)}


async def drive(base_url: str, seconds: float, flooders: int) -> dict[str, Any]:
    email = f"real-{uuid.uuid4().hex[:8]}@example.com"
    transport = httpx.AsyncHTTPTransport(local_address=REAL_USER_ADDRESS)
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=60) as http:
        created = await http.post("/api/identity/register",
                                  json={"email": email, "password": PASSWORD},
                                  headers={"Idempotency-Key": uuid.uuid4().hex})
        assert created.status_code == 201, created.text
    quiet, quiet_statuses = await real_user(base_url, email, seconds)
    (loud, loud_statuses), flooded = await asyncio.gather(
        real_user(base_url, email, seconds), flood(base_url, flooders, seconds))
    return {"seconds": seconds, "flooders": flooders,
            "real_user_quiet_ms": _ms(quiet), "real_user_quiet_statuses": dict(quiet_statuses),
            "real_user_during_flood_ms": _ms(loud),
            "real_user_during_flood_statuses": dict(loud_statuses),
            "flood_statuses": dict(flooded),
            "flood_requests_per_second": round(sum(flooded.values()) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["process", "monolith"], default="process")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--flooders", type=int, default=96)
    args = parser.parse_args()
    runner = start(args.mode)  # sign-in's production defaults: nothing lowered
    try:
        result = {"mode": args.mode, **asyncio.run(
            drive(runner.gateway_url, args.seconds, args.flooders))}
    finally:
        runner.stop()
    print(f"{args.mode}: real user's sign-in p50 {result['real_user_quiet_ms']['p50']} ms "
          f"quiet, p50 {result['real_user_during_flood_ms']['p50']} ms / max "
          f"{result['real_user_during_flood_ms']['max']} ms during a flood of "
          f"{result['flood_requests_per_second']} req/s from one address "
          f"(flood answers {result['flood_statuses']}, real user "
          f"{result['real_user_during_flood_statuses']})")
    print(f"saved {save(f'login-flood-{args.mode}', result)}")


if __name__ == "__main__":
    main()
