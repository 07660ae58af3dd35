"""HTTP health probes without an HTTP client library: one GET, look at the status."""

from __future__ import annotations

import asyncio
import contextlib

from msa.tools.runner.ports import HOST


async def http_ok(port: int, path: str = "/readyz", *, timeout: float = 1.0) -> bool:
    """Whether `GET http://127.0.0.1:port/path` answers 200 within `timeout` seconds."""
    try:
        return await asyncio.wait_for(_get_status(port, path), timeout) == 200
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return False


def http_ok_sync(port: int, path: str = "/readyz", *, timeout: float = 1.0) -> bool:
    """Blocking twin of `http_ok`, for code that is not async."""
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


async def probe_many(ports: list[int], path: str = "/readyz", timeout: float = 0.5) -> list[bool]:
    """Probe several ports at once; results in the same order."""
    return list(await asyncio.gather(*(http_ok(port, path, timeout=timeout) for port in ports)))


async def _get_status(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ValueError("not an HTTP response")
        return int(parts[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
