"""The servers: half-open connections are closed, the public edge's metrics are private."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from msa.metrics_access import scrape_headers
from tests.shop import Bookstore

PROBLEM = "application/problem+json"


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1024), within) == b""
    except (TimeoutError, ConnectionResetError):
        return False


@pytest.mark.parametrize("bookstore", ["process"], indirect=True)
async def test_connections_that_never_finish_their_headers_are_closed(bookstore: Bookstore):
    url = httpx.URL(bookstore.runner.url("gateway"))
    timeout = float(bookstore.runner.specs[0].env.get("MSA_HEADER_TIMEOUT", "10"))
    sockets = []
    for i in range(40):  # half of them send part of a request, half nothing at all
        reader, writer = await asyncio.open_connection(url.host, url.port)
        if i % 2:
            writer.write(b"GET /api/catalog/books HTTP/1.1\r\nHost: shop\r\nX-Slow: ")
            await writer.drain()
        sockets.append((reader, writer))
    try:
        closed = await asyncio.gather(*(closed_by_server(reader, timeout * 3 + 5)
                                        for reader, _ in sockets))
    finally:
        for _, writer in sockets:
            writer.close()
    assert all(closed), f"{closed.count(False)} of {len(closed)} connections were kept open"
    assert (await bookstore.http.get("/api/catalog/books")).status_code == 200


async def test_the_public_metrics_answer_only_the_operators_scraper(bookstore: Bookstore):
    base = bookstore.runner.gateway_url
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        anonymous = await http.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith(PROBLEM)
        forged = await http.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert forged.status_code == 401
        scraped = await http.get("/metrics", headers=scrape_headers(bookstore.runner.data_dir))
        assert scraped.status_code == 200
        assert "msa_http_requests_total" in scraped.text or "process_" in scraped.text
