"""An administrator uses the operations console; every page loads clean in the browser."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from msa import dlq
from tests.browser.conftest import DESKTOP, PHONE, Store, log_in, open_page, run_async, shoot


def a_customers_confirmed_order(store: Store) -> tuple[str, str]:
    """The order the customer test placed in the browser (or one placed now), and its
    customer's token."""
    if "order_id" in store.journal:
        return store.journal["order_id"], store.token(store.journal["email"])
    book = store.new_book(f"The Operator's Copy {uuid.uuid4().hex[:6]}", 900, copies=3)
    _, token = store.customer(credit_cents=5000)
    assert store.call(token, "POST", "/api/orders/cart/items",
                      {"book_id": book, "quantity": 1}).status_code == 200
    order = store.call(token, "POST", "/api/orders/checkout").json()
    return str(order["id"]), token


def settled(store: Store, token: str, order_id: str) -> dict[str, Any]:
    for _ in range(300):
        order: dict[str, Any] = store.call(token, "GET", f"/api/orders/{order_id}").json()
        if order["status"] != "PENDING":
            return order
        time.sleep(0.1)
    raise AssertionError(f"order {order_id} still pending")


def test_the_console_shows_the_customers_saga_with_all_steps_and_its_trace_as_a_waterfall(
        browser: Any, store: Store) -> None:
    order_id, token = a_customers_confirmed_order(store)
    order = settled(store, token, order_id)
    assert order["status"] == "CONFIRMED"
    saga_id = order["saga_id"]
    page, _ = open_page(browser)
    log_in(page, store, store.admin_email)
    page.goto(store.url + "/console/sagas?age=soon&step=two")
    assert page.locator("#e-age").inner_text() == "Type a number of seconds, such as 60."
    assert page.locator("#e-step").inner_text() == "Type a step number, such as 2."
    page.goto(store.url + "/console/sagas?state=completed")
    page.get_by_role("link", name=saga_id).click()
    page.wait_for_url(re.compile(f"/console/sagas/orders/{saga_id}$"))
    assert page.locator("#saga-status").inner_text() == "completed"
    rows = page.locator("#steps tbody tr")
    steps = [rows.nth(i).locator("td").nth(0).inner_text() for i in range(rows.count())]
    assert steps == ["reserve_stock", "debit_wallet", "credit_revenue", "confirm_order",
                     "commit_stock"]
    assert page.locator("#steps tbody tr.ok").count() == 5
    times = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
    assert all(times) and times == sorted(times)
    shoot(page, "console-saga")
    page.get_by_role("button", name="Compensate now").click()  # past its pivot: refused
    assert "can no longer be compensated" in page.get_by_role("alert").inner_text()
    page.go_back()

    page.get_by_role("link", name=re.compile("^trace ")).first.click()
    page.wait_for_url(re.compile("/console/traces/[0-9a-f]{32}$"))
    bars = page.locator("#waterfall rect")
    assert bars.count() >= 5
    listed = page.locator("details ol").text_content() or ""
    for service in ("orders:", "inventory:", "wallet:", "ledger:"):
        assert service in listed, listed
    assert saga_id in listed  # the participants' calls carry the saga as their reference
    shoot(page, "console-trace-waterfall")


def test_the_console_replays_a_dead_letter_and_its_effect_stays_once(
        browser: Any, store: Store) -> None:
    book = store.new_book(f"The Lost Letter {uuid.uuid4().hex[:6]}", 700, copies=2)
    _, token = store.customer(credit_cents=2000)
    assert store.call(token, "POST", "/api/orders/cart/items",
                      {"book_id": book, "quantity": 1}).status_code == 200
    store.operator("notifications", "POST", "/internal/faults",
                   {"points": "fail:consumer.after_commit"})
    try:  # notifications fails each delivery after its effect, until disarmed
        order = settled(store, token, store.call(token, "POST", "/api/orders/checkout")
                        .json()["id"])
        letter = None
        for _ in range(300):
            letters = run_async(dlq.list_dead_letters(store.runner.nats_url))
            # the fault switch is per process: in this monolith other consumers of the
            # event (reviews) fail too; notifications' letter is the one replayed here
            letter = next((d for d in letters if order["id"] in d.data.decode()
                           and d.consumer.startswith("notifications")), None)
            if letter:
                break
            time.sleep(0.1)
        assert letter is not None, "the failing consumer never dead-lettered the event"
    finally:
        store.operator("notifications", "DELETE", "/internal/faults")

    page, _ = open_page(browser)
    log_in(page, store, store.admin_email)
    page.goto(store.url + "/console/messaging")
    rows = page.locator("#dead-letters tbody tr", has_text=letter.event_id)
    row = rows.filter(has_text=letter.consumer)
    assert "InjectedFault" in row.inner_text()
    shoot(page, "console-dead-letter")
    row.get_by_role("button", name=f"Replay dead letter {letter.seq}").click()
    page.wait_for_url(re.compile(f"replayed={letter.seq}"))
    assert "published again" in page.get_by_role("status").inner_text()
    assert rows.filter(has_text=letter.consumer).count() == 0
    left = run_async(dlq.list_dead_letters(store.runner.nats_url))
    assert [d for d in left if d.event_id == letter.event_id
            and d.consumer == letter.consumer] == []
    inbox = store.call(token, "GET", "/api/notifications").json()["items"]
    assert [m["order_id"] for m in inbox] == [order["id"]]  # once, not twice


def pages(store: Store) -> tuple[list[str], list[str]]:
    """Every storefront and console page (signed in), and those seen signed out."""
    order_id, token = a_customers_confirmed_order(store)
    saga_id = settled(store, token, order_id)["saga_id"]
    book = store.http.get("/api/catalog/books", params={"limit": 1}).json()["items"][0]["id"]
    return ([
        "/", "/books", "/books?q=the&search=1", "/books?page=2", f"/books/{book}", "/cart",
        "/orders", f"/orders/{order_id}", "/wallet", "/notifications", "/admin",
        f"/admin/books/{book}", "/admin/orders", "/console", "/console/sagas",
        f"/console/sagas/orders/{saga_id}", "/console/messaging", "/console/traces",
        "/console/checks", "/api/reference",
    ], ["/", "/login", "/register", "/books", f"/books/{book}", "/api/reference"])


def look(page: Any, store: Store, path: str, name: str) -> list[str]:
    """Load `path`, screenshot it at desktop and phone widths; what is wrong with it."""
    answer = page.goto(store.url + path)
    wrong = [] if answer is not None and answer.status == 200 else [f"{path}: {answer}"]
    if path == "/console/checks":
        page.locator(".checks li").first.wait_for()
    shoot(page, f"desktop_{name}")
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wrong.append(f"{path} is {width} px wide on a {PHONE['width']} px screen")
    shoot(page, f"375_{name}")
    page.set_viewport_size(DESKTOP)
    return wrong


def test_every_page_loads_without_console_errors_failed_requests_or_foreign_origins(
        browser: Any, store: Store) -> None:
    signed_in, signed_out = pages(store)
    problems: list[str] = []
    page, watch = open_page(browser)
    log_in(page, store, store.admin_email)
    for path in signed_in:
        problems += look(page, store, path, _name(path))
    page.goto(store.url + "/console/traces")
    trace = page.locator("#traces a").first.get_attribute("href")
    assert trace
    problems += look(page, store, trace, "console_trace")
    problems += watch.problems()
    anonymous, watch = open_page(browser)
    for path in signed_out:
        problems += look(anonymous, store, path, "anonymous_" + _name(path))
    problems += [f"anonymous: {p}" for p in watch.problems()]
    assert not problems, "\n".join(problems)


def _name(path: str) -> str:
    """A file name for a page's screenshot (ids shortened)."""
    name = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "ID", path.strip("/")) or "home"
    return re.sub(r"[^A-Za-z0-9=_-]+", "_", name)
