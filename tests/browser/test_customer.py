"""A customer and an administrator use the store in a real browser (Debian's Chromium)."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from tests.browser.conftest import PHONE, Store, log_in, open_page, shoot
from tests.shop import PASSWORD


def register(page: Any, store: Store, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(store.url + "/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"/wallet$"))
    return email


def top_up(page: Any, amount: str) -> None:
    page.get_by_label("Top up (EUR)").fill(amount)
    page.get_by_role("button", name="Top up").click()


def buy(page: Any, store: Store, title: str, quantity: int) -> str:
    """Find the book by search, put it in the cart, check out; the order's id."""
    page.goto(store.url + "/")
    page.get_by_label("Search the catalogue").fill(title)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=title).click()
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    page.get_by_role("button", name="Check out").click()
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    return str(page.url.rsplit("/", 1)[1])


def test_a_customer_registers_tops_up_finds_a_book_buys_it_and_sees_it_confirmed(
        browser: Any, store: Store) -> None:
    title = f"The Confirmed Reader {uuid.uuid4().hex[:6]}"
    book = store.new_book(title, price_cents=1250, copies=5)
    page, _ = open_page(browser)
    page.goto(store.url + "/")
    newest = page.get_by_role("region", name="New books").locator(".card strong")
    assert newest.first.inner_text() == title  # the catalogue, newest first
    email = register(page, store, "reader")
    top_up(page, "50")
    page.wait_for_url(re.compile(r"/wallet$"))
    assert page.locator("#balance").inner_text() == "50.00 EUR"
    shoot(page, "wallet-after-top-up")

    order_id = buy(page, store, title, quantity=2)
    status = page.locator("[data-status]")
    page.locator("[data-status=CONFIRMED]").wait_for()  # polled live while the saga runs
    assert status.inner_text() == "CONFIRMED"
    steps = page.locator("ol.steps li .name").all_inner_texts()
    assert steps == ["reserve_stock", "debit_wallet", "credit_revenue", "confirm_order",
                     "commit_stock"]
    assert page.locator("ol.steps li.ok").count() == 5
    shoot(page, "order-confirmed")
    assert store.available(book) == 3

    page.goto(store.url + "/wallet")
    assert page.locator("#balance").inner_text() == "25.00 EUR"
    page.goto(store.url + "/orders")
    assert page.get_by_role("link", name=re.compile(order_id[:8])).count() == 1
    for _ in range(60):  # the notification follows the order's event
        page.goto(store.url + "/notifications")
        if page.locator("ul.messages li").count():
            break
        page.wait_for_timeout(500)
    assert "(1 unread)" in page.locator("h1").inner_text()
    page.get_by_role("button", name="Mark as read").click()
    page.wait_for_url(re.compile(r"/notifications$"))
    assert "(0 unread)" in page.locator("h1").inner_text()
    assert page.locator("ul.messages li.read").count() == 1

    page.goto(f"{store.url}/books/{book}")
    assert "No reviews yet" in page.locator("#reviews").inner_text()
    page.get_by_label("5★").check()
    page.get_by_label("Your review (optional)").fill("Read it twice in a week.")
    page.get_by_role("button", name="Publish review").click()
    page.wait_for_url(re.compile(r"#reviews$"))
    assert "Read it twice in a week." in page.locator("ul.reviews").inner_text()
    shoot(page, "book-with-review")
    store.journal.update(order_id=order_id, email=email, book=book, title=title)


def test_a_checkout_with_too_little_credit_shows_cancelled_with_the_reason_and_money_back(
        browser: Any, store: Store) -> None:
    title = f"The Costly Volume {uuid.uuid4().hex[:6]}"
    book = store.new_book(title, price_cents=4000, copies=3)
    page, _ = open_page(browser, PHONE)  # a phone's width, all the way through
    register(page, store, "short")
    top_up(page, "10")
    page.wait_for_url(re.compile(r"/wallet$"))
    buy(page, store, title, quantity=1)
    page.locator("[data-status=CANCELLED]").wait_for()
    assert "credit" in page.locator(".reason").inner_text().lower()
    steps = [(name, outcome) for name, outcome in zip(
        page.locator("ol.steps li .name").all_inner_texts(),
        page.locator("ol.steps li strong").all_inner_texts(), strict=True)]
    assert steps[0] == ("reserve_stock", "ok")
    assert ("debit_wallet", "failed") in steps
    assert steps[-1] == ("reserve_stock", "ok")  # the stock released again
    shoot(page, "order-cancelled-375")
    page.goto(store.url + "/wallet")
    assert page.locator("#balance").inner_text() == "10.00 EUR"
    assert store.available(book) == 3


def test_an_administrator_restocks_a_book_and_sees_the_stock_change(
        browser: Any, store: Store) -> None:
    title = f"The Restocked Atlas {uuid.uuid4().hex[:6]}"
    book = store.new_book(title, price_cents=1500, copies=2)
    page, _ = open_page(browser)
    log_in(page, store, store.admin_email)
    page.goto(f"{store.url}/admin/books/{book}")
    assert page.locator("#available").inner_text() == "2"
    page.get_by_label("Copies received").fill("7")
    page.get_by_role("button", name="Restock").click()
    page.wait_for_url(re.compile(r"restocked=7"))
    assert page.locator("#available").inner_text() == "9"
    shoot(page, "admin-restocked")
    page.goto(f"{store.url}/books/{book}")
    assert page.locator("#stock").inner_text() == "In stock: 9"
    assert store.available(book) == 9
    page.goto(store.url + "/admin/orders")  # every customer's orders, newest first
    assert page.locator("h1").inner_text() == "All orders"
    if "order_id" in store.journal:
        assert page.locator(f"a[href='/orders/{store.journal['order_id']}']").count() == 1


def test_bad_input_shows_a_message_next_to_the_field_and_changes_nothing(
        browser: Any, store: Store) -> None:
    title = f"The Careful Shopper {uuid.uuid4().hex[:6]}"
    book = store.new_book(title, price_cents=1000, copies=4)
    page, _ = open_page(browser)
    register(page, store, "careful")
    top_up(page, "-5")
    assert page.locator("#e-amount").inner_text() == "A top-up must be more than zero."
    assert page.get_by_label("Top up (EUR)").get_attribute("aria-invalid") == "true"
    assert page.locator("#balance").inner_text() == "0.00 EUR"
    shoot(page, "bad-top-up")

    page.goto(store.url + "/books")
    page.get_by_role("button", name="Search").click()
    assert "Type a word" in page.locator("#e-q").inner_text()
    shoot(page, "bad-empty-search")

    page.goto(f"{store.url}/books/{book}")
    page.get_by_label("Quantity").fill("0")
    page.get_by_role("button", name="Add to cart").click()
    assert page.locator("#e-quantity").inner_text() == "Choose a quantity of at least 1."
    shoot(page, "bad-quantity")
    page.goto(store.url + "/cart")
    assert "Your cart is empty" in page.locator("main").inner_text()

    # a stale cart: the page shows one book, another tab adds a second, then checkout
    page.goto(f"{store.url}/books/{book}")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(re.compile(r"/cart$"))
    other = page.context.new_page()
    other.goto(f"{store.url}/books/{book}")
    other.get_by_label("Quantity").fill("2")
    other.get_by_role("button", name="Add to cart").click()
    other.wait_for_url(re.compile(r"/cart$"))
    page.get_by_role("button", name="Check out").click()
    assert "changed since this page was shown" in page.locator("#e-checkout").inner_text()
    shoot(page, "bad-stale-cart")
    page.goto(store.url + "/orders")
    assert "No orders yet" in page.locator("main").inner_text()
    assert store.available(book) == 4


def test_a_customer_reaching_the_console_gets_a_clear_refusal(browser: Any,
                                                              store: Store) -> None:
    page, _ = open_page(browser)
    register(page, store, "curious")
    answer = page.goto(store.url + "/console")
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "The operations console is for administrators"
    answer = page.goto(store.url + "/console/messaging")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("button", name="Replay").count() == 0
    shoot(page, "console-refused")
    _, token = store.customer()
    assert store.call(token, "GET", "/api/orders?all=true").status_code == 403
    # another site's form cannot post here, even with the customer's cookie
    forged = store.http.post("/wallet/topups", data={"amount": "5"},
                             headers={"Origin": "https://evil.example",
                                      "Cookie": f"shop_token={token}"})
    assert forged.status_code == 403
    assert store.call(token, "GET", "/api/wallet").json()["balance_cents"] == 0


def test_a_session_the_api_no_longer_accepts_leads_to_the_login_page(browser: Any,
                                                                     store: Store) -> None:
    page, _ = open_page(browser)
    claims = base64.urlsafe_b64encode(b'{"sub": "x", "role": "customer"}').decode().rstrip("=")
    page.context.add_cookies([{"name": "shop_token", "value": f"e30.{claims}.forged",
                               "url": store.url}])
    page.goto(store.url + "/wallet")
    page.wait_for_url(re.compile(r"/login\?next=/wallet$"))
    assert page.get_by_label("Email").is_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "shop_token"]
