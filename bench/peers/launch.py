"""Start a peer for the bench: its own PostgreSQL (our runner's settings), its databases
and tables, its server (Temporal's dev server), and its process with the HTTP front.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.peers.steps import PARTICIPANTS, SCHEMA, confirmed_orders, stock_and_fund
from msa.tools.runner.databases import superuser_connection
from msa.tools.runner.ports import HOST, free_port
from msa.tools.runner.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
PEERS = {"one-transaction": "bench.peers.one_transaction",
         "temporal": "bench.peers.temporal_checkout",
         "dbos": "bench.peers.dbos_checkout"}
PASSWORD = "bench-peer-superuser"  # a throw-away cluster on 127.0.0.1, gone after the run


class PeerSystem:
    """(c) one transaction, (d) Temporal or (e) DBOS, on a PostgreSQL of its own."""

    def __init__(self, name: str, books: list[dict[str, Any]], customers: int = 64) -> None:
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}")
        self.name = name
        self.books = books
        self.customers = [{"user": str(uuid.uuid4())} for _ in range(customers)]
        self.folder = Path(tempfile.mkdtemp(prefix=f"msa-bench-{name}-"))
        self.postgres = PostgresServer(self.folder / "pg", port=free_port())
        self.port = free_port()
        self.temporal_address = ""
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def job(self) -> dict[str, Any]:
        return {"kind": "checkout-peer", "base_url": self.base_url,
                "customers": self.customers, "books": self.books}

    def roots(self) -> list[int]:
        pids = [process.pid for process in self.processes if process.poll() is None]
        postmaster = self.postgres.pid()
        return pids + ([postmaster] if postmaster else [])

    def start(self) -> None:
        try:
            self.postgres.init(PASSWORD)
            self.postgres.start()
            asyncio.run(self._databases())
            settings: dict[str, Any] = {"port": self.port, "dsns": {
                name: self.url(name) for name in PARTICIPANTS}}
            if self.name == "one-transaction":
                settings = {"port": self.port, "dsn": self.url("checkout")}
            elif self.name == "dbos":
                settings["system_database_url"] = self.url("dbos_system")
            elif self.name == "temporal":
                self.temporal_address = f"{HOST}:{free_port()}"
                self._spawn([str(Path(sys.executable).parent / "temporal"), "server",
                             "start-dev", "--headless", "--ip", HOST,
                             "--port", self.temporal_address.rsplit(":", 1)[1],
                             "--http-port", str(free_port()),
                             "--metrics-port", str(free_port()), "--log-level", "error"])
                settings["temporal"] = self.temporal_address
                _wait_for_port(self.temporal_address, 60)
            self._spawn([sys.executable, "-m", PEERS[self.name], json.dumps(settings)])
            _wait_ready(self.base_url + "/health", 90, self.processes[-1])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        self.postgres.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return self.postgres.url("postgres", PASSWORD, database)

    async def confirmed(self) -> int:
        """Confirmed orders in the peer's own orders table."""
        database = "checkout" if self.name == "one-transaction" else "orders"
        conn = await superuser_connection(self.postgres, database)
        try:
            return await confirmed_orders(conn)
        finally:
            await conn.close()

    async def completed(self) -> int:
        """Checkouts the peer completed, counted from its own store: confirmed orders
        in its orders table, and for the engines, the workflows they record as done."""
        orders = await self.confirmed()
        if self.name == "temporal":
            from bench.peers.temporal_checkout import completed_workflows

            return min(orders, await completed_workflows(self.temporal_address))
        if self.name == "dbos":
            from bench.peers.dbos_checkout import completed_workflows as dbos_completed

            conn = await superuser_connection(self.postgres, "dbos_system")
            try:
                return min(orders, await dbos_completed(conn))
            finally:
                await conn.close()
        return orders

    async def _databases(self) -> None:
        names = ["checkout"] if self.name == "one-transaction" else list(PARTICIPANTS)
        if self.name == "dbos":
            names.append("dbos_system")
        admin = await superuser_connection(self.postgres)
        try:
            for name in names:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        books = [book["id"] for book in self.books]
        users = [customer["user"] for customer in self.customers]
        for name in names:
            if name == "dbos_system":
                continue
            conn: asyncpg.Connection = await superuser_connection(self.postgres, name)
            try:
                tables = SCHEMA.values() if name == "checkout" else [SCHEMA[name]]
                for ddl in tables:
                    await conn.execute(ddl)
                await stock_and_fund(conn, books, users, copies=1_000_000,
                                     credit_cents=10**12,
                                     participant=None if name == "checkout" else name)
            finally:
                await conn.close()

    def _spawn(self, command: list[str]) -> None:
        self.processes.append(subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.folder / f"{len(self.processes)}.log", "wb"),  # noqa: SIM115
            env={**os.environ, "PYTHONPATH": str(ROOT)}))


def _wait_for_port(address: str, timeout: float) -> None:
    import socket

    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address} after {timeout:g} s")


def _wait_ready(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the peer exited with code {process.returncode} before ready")
        try:
            if httpx.get(url, timeout=2).json().get("ready"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:g} s")
