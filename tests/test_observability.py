"""Seeing every request across services: one trace per checkout (HTTP and NATS), the
metrics every service exports, and dashboards and alerts that only name real metrics."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from msa.metrics_access import scrape_headers
from msa.tools.monitoring import prometheus
from msa.tools.monitoring.dashboards import dashboards
from msa.tools.monitoring.promql import metric_names
from msa.tools.monitoring.rules import rule_groups
from msa.tools.runner.ports import free_port
from tests.shop import Bookstore, Shopper

CHECKOUT_PATH = ["gateway", "orders", "inventory", "wallet", "ledger", "notifications"]
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count",
                                                              "_created"),
             "summary": ("_sum", "_count", "_created"), "info": ("_info",)}


async def checkout_traced(bookstore: Bookstore, shopper: Shopper | None = None
                          ) -> tuple[str, dict[str, Any]]:
    """A paid checkout sent with a trace id of our own; (trace id, the settled order)."""
    book = await bookstore.new_book(copies=5, price_cents=1100)
    shopper = shopper or await bookstore.customer(credit=5000)
    await shopper.add_to_cart(book, 1)
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    response = await shopper.call("POST", "/api/orders/checkout", key=uuid.uuid4().hex,
                                  headers={"traceparent": traceparent})
    assert response.status_code in (201, 202), response.text
    return trace_id, await shopper.settled(response.json()["id"])


async def spans_of(bookstore: Bookstore, trace_id: str) -> list[dict[str, Any]]:
    """The trace's spans from every replica of every service (`/internal/traces`)."""
    found: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for service, urls in bookstore.replica_urls().items():
            for url in urls:
                response = await http.get(f"{url}/internal/traces", params={"trace_id": trace_id},
                                          headers=bookstore.access.auth_headers(service))
                assert response.status_code == 200, response.text
                found.update((span["span_id"], span) for span in response.json()["spans"])
    return list(found.values())


async def scrape(bookstore: Bookstore) -> str:
    """Every process's `/metrics`, concatenated."""
    urls = {url.split("/_svc/")[0] for urls in bookstore.replica_urls().values()
            for url in urls}
    token = scrape_headers(bookstore.runner.data_dir)  # the public edge asks for it
    async with httpx.AsyncClient(timeout=10, headers=token) as http:
        texts = [(await http.get(f"{url}/metrics")).text for url in sorted(urls)]
    return "\n".join(texts)


def exported_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return names


def sample_sum(text: str, name: str, **labels: str) -> float | None:
    values = [sample.value for family in text_string_to_metric_families(text)
              for sample in family.samples
              if sample.name == name and all(sample.labels.get(k) == v
                                             for k, v in labels.items())]
    return sum(values) if values else None


async def test_a_checkout_is_one_trace_across_every_service_on_its_path(bookstore: Bookstore):
    trace_id, order = await checkout_traced(bookstore)
    assert order["status"] == "CONFIRMED"

    deadline = time.monotonic() + 20
    while True:  # notifications learns of the order through NATS, a little later
        spans = await spans_of(bookstore, trace_id)
        if {span["service"] for span in spans} >= set(CHECKOUT_PATH):
            break
        assert time.monotonic() < deadline, sorted({span["service"] for span in spans})
        await asyncio.sleep(0.25)

    assert {span["trace_id"] for span in spans} == {trace_id}
    by_id = {span["span_id"]: span for span in spans}
    consumed = next(span for span in spans
                    if span["service"] == "notifications" and span["kind"] == "consumer")
    published = by_id[consumed["parent_span_id"]]
    assert published["kind"] == "producer" and published["service"] == "orders"
    assert consumed["name"] == "orders.order.confirmed.v1 process"
    steps = {span["attributes"].get("saga.step") for span in spans
             if span["name"].startswith("saga checkout.")}
    assert {"reserve_stock", "debit_wallet", "credit_revenue", "commit_stock"} <= steps
    for service in CHECKOUT_PATH:  # each service with a database traced its statements
        if bookstore.runner.system.service(service).database:
            statements = [span for span in spans if span["service"] == service
                          and span["kind"] == "client" and "db.system" in span["attributes"]]
            assert statements, f"no database span from {service}"
    root = next(span for span in spans
                if span["service"] == "gateway" and span["kind"] == "server")
    assert root["name"] == "POST /api/orders/{path}"  # the gateway names the prefix it forwards


async def test_every_service_exports_build_red_messaging_saga_and_business_metrics(
        bookstore: Bookstore):
    await checkout_traced(bookstore)
    await asyncio.sleep(6)  # one round of the lag refresher
    text = await scrape(bookstore)
    system = bookstore.runner.system
    for service in system.services:
        assert sample_sum(text, "msa_build_info", service=service) >= 1, service
    builds = [sample.labels for family in text_string_to_metric_families(text)
              for sample in family.samples if sample.name == "msa_build_info"]
    assert {build["service"] for build in builds} == set(system.services)
    for build in builds:
        assert build["version"], build
        assert re.fullmatch("[0-9a-f]{40}", build["git_sha"]), build  # the checkout's commit
        assert subprocess.run(["git", "cat-file", "-e", build["git_sha"]],  # noqa: ASYNC221
                              cwd=system.root).returncode == 0, build
    # RED of the route and of the calls orders makes for the saga
    assert sample_sum(text, "msa_http_request_duration_seconds_count", service="orders",
                      route="/api/orders/checkout") > 0
    for target in ("inventory", "wallet", "ledger"):
        assert sample_sum(text, "msa_client_requests_total", service="orders",
                          target=target) > 0, target
        assert sample_sum(text, "msa_client_request_duration_seconds_count", service="orders",
                          target=target) > 0, target
    assert sample_sum(text, "msa_sagas_started_total", service="orders", saga="checkout") > 0
    assert sample_sum(text, "msa_sagas_ended_total", service="orders", saga="checkout",
                      status="completed") > 0
    assert sample_sum(text, "msa_sagas_in_flight", service="orders", saga="checkout") is not None
    assert sample_sum(text, "msa_http_requests_total", service="orders",
                      route="/api/orders/checkout") > 0
    assert sample_sum(text, "msa_http_requests_total", service="gateway",
                      route="/api/orders/{path}") > 0  # the gateway's RED per forwarded prefix
    assert sample_sum(text, "orders_confirmed_total") > 0
    assert sample_sum(text, "orders_revenue_cents_total") >= 1100
    assert sample_sum(text, "wallet_topups_total") > 0
    assert sample_sum(text, "msa_saga_step_duration_seconds_count", saga="checkout",
                      step="debit_wallet") > 0
    assert sample_sum(text, "msa_sagas_active", service="orders", saga="checkout") is not None
    for svc in system.services.values():
        if svc.database:
            assert sample_sum(text, "msa_db_pool_size", service=svc.name) > 0, svc.name
        if svc.publishes:
            assert sample_sum(text, "msa_outbox_unpublished", service=svc.name) is not None
            assert sample_sum(text, "msa_outbox_oldest_unpublished_seconds",
                              service=svc.name) is not None
    assert sample_sum(text, "msa_consumer_pending_messages", service="notifications") is not None
    assert sample_sum(text, "msa_dead_letters_total", service="notifications") is not None
    assert sample_sum(text, "msa_circuit_breaker_state", service="gateway",
                      target="orders") == 0


async def test_every_dashboard_and_alert_query_names_an_exported_metric(bookstore: Bookstore):
    system = bookstore.runner.system
    exported = exported_names(await scrape(bookstore)) | {"up"}
    groups = rule_groups(system)["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    unknown = []
    for stem, board in dashboards(system).items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                missing = metric_names(target["expr"]) - exported - recorded
                unknown += [f"{stem}/{panel['title']}: {name}" for name in sorted(missing)]
    for group in groups:
        for rule in group["rules"]:
            missing = metric_names(rule["expr"]) - exported - recorded
            unknown += [f"{rule.get('alert') or rule['record']}: {name}" for name in missing]
    assert unknown == []


@pytest.mark.skipif(prometheus.binary() is None,
                    reason="prometheus is not installed (Debian package `prometheus`)")
@pytest.mark.parametrize("bookstore", ["process"], indirect=True)
async def test_a_real_prometheus_sees_every_service_up_and_the_checkouts(bookstore: Bookstore):
    runner = bookstore.runner  # as `msa up --with-prometheus` starts it, on a free port
    server = await asyncio.to_thread(prometheus.start_for, runner, free_port(), "1s")
    try:
        _, order = await checkout_traced(bookstore)
        assert order["status"] == "CONFIRMED"
        instances = sum(svc.replicas for svc in runner.system.services.values())
        queries = {
            "up": "sum(up)",
            "checkouts": 'sum(msa_http_requests_total{service="orders",'
                         'route="/api/orders/checkout"})',
            "confirmed": "sum(orders_confirmed_total)",
            "sagas": 'sum(msa_sagas_ended_total{saga="checkout",status="completed"})',
        }
        deadline = time.monotonic() + 30
        while True:  # the first scrapes land a few seconds after start: poll
            values = {}
            for name, expr in queries.items():
                result = await asyncio.to_thread(server.query, expr)
                values[name] = float(result[0]["value"][1]) if result else 0.0
            if values["up"] == instances and min(values.values()) > 0:
                break
            assert time.monotonic() < deadline, values
            await asyncio.sleep(0.5)
        jobs = await asyncio.to_thread(server.query, "up")
        assert {item["metric"]["job"] for item in jobs} == set(runner.system.services)
    finally:
        await asyncio.to_thread(server.stop)
