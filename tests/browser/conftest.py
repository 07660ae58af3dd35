"""A running bookstore and Debian's Chromium (headless), shared by the browser tests.

One system (monolith mode: one process, least CPU) serves every browser test of
this package. The browser is the distribution's Chromium driven by Playwright;
Playwright never downloads a browser here. Anything a page asks of a non-loopback
origin is refused and recorded, and so are console errors and failed requests.
Screenshots go to `reports/browser/` (not committed).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from bookstore.seed import seed
from msa.checks import SystemAccess
from msa.service_auth import operator_credentials
from msa.system import load_system
from msa.tools.runner import Runner
from tests.shop import PASSWORD, TEST_ENV, new_isbn

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=http://127.0.0.1:9"]  # anything not loopback fails at once
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "browser"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


@dataclass
class Store:
    """The running bookstore as the browser tests use it (setup goes through the API)."""

    runner: Runner
    url: str
    admin_email: str
    http: httpx.Client
    journal: dict[str, Any] = field(default_factory=dict)

    def operator(self, service: str, method: str, path: str, body: Any = None) -> Any:
        """A call as the operator, as `msa` makes it."""
        headers = operator_credentials(self.runner.data_dir).headers(service)
        headers["Idempotency-Key"] = uuid.uuid4().hex
        answer = httpx.request(method, self.runner.addresses[service][0] + path, json=body,
                               headers=headers, timeout=30)
        assert answer.status_code < 400, answer.text
        return answer.json() if answer.content else None

    def token(self, email: str) -> str:
        answer = self.http.post("/api/identity/login", json={"email": email,
                                                             "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def call(self, token: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
        return self.http.request(method, path, json=body, headers=headers)

    def customer(self, credit_cents: int = 0) -> tuple[str, str]:
        """A new customer (email, token), with `credit_cents` topped up."""
        email = f"api-{uuid.uuid4().hex[:10]}@example.com"
        made = self.http.post("/api/identity/register", json={"email": email,
                                                              "password": PASSWORD},
                              headers={"Idempotency-Key": uuid.uuid4().hex})
        assert made.status_code == 201, made.text
        token = self.token(email)
        if credit_cents:
            topped = self.call(token, "POST", "/api/wallet/topups",
                               {"amount_cents": credit_cents})
            assert topped.status_code == 201, topped.text
        return email, token

    def new_book(self, title: str, price_cents: int, copies: int) -> str:
        admin = self.token(self.admin_email)
        made = self.call(admin, "POST", "/api/catalog/admin/books", {
            "isbn": new_isbn(), "title": title, "author": "Ada Browser",
            "price_cents": price_cents, "year": 2024, "description": "Made by a test."})
        assert made.status_code == 201, made.text
        book_id = str(made.json()["id"])
        for _ in range(300):  # inventory learns of the book from catalog's event
            if self.http.get(f"/api/inventory/stock/{book_id}").status_code == 200:
                break
            time.sleep(0.05)
        if copies:
            stocked = self.call(admin, "POST", "/api/inventory/admin/restock",
                                {"book_id": book_id, "quantity": copies})
            assert stocked.status_code == 200, stocked.text
        return book_id

    def available(self, book_id: str) -> int:
        return int(self.http.get(f"/api/inventory/stock/{book_id}").json()["available"])


@pytest.fixture(scope="package")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    # one worker: the dead-letter test arms a fault switch, which is per process
    runner = Runner(load_system(), data_dir=tmp_path_factory.mktemp("msa-browser"),
                    mode="monolith", free_ports=True, env="test", env_overrides=TEST_ENV,
                    workers=1)
    try:
        runner.start()
        access = SystemAccess(runner.addresses, data_dir=runner.data_dir)

        async def prepare() -> None:
            try:
                await seed(access)
            finally:
                await access.aclose()

        asyncio.run(prepare())
        assert runner.gateway_url
        with httpx.Client(base_url=runner.gateway_url, timeout=30) as http:
            found = Store(runner, runner.gateway_url, f"admin-{uuid.uuid4().hex[:8]}@example.com",
                          http)
            found.operator("identity", "POST", "/internal/identity/admins",
                           {"email": found.admin_email, "password": PASSWORD})
            yield found
    finally:
        runner.stop()


@pytest.fixture(scope="package")
def browser(store: Store) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watch:
    """What went wrong in the browser: console errors, failed requests, foreign origins."""

    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)

    def problems(self, *, allowed_statuses: tuple[int, ...] = ()) -> list[str]:
        bad = [f"{status} {url}" for status, url in self.statuses
               if status >= 400 and status not in allowed_statuses]
        return [*self.console_errors, *self.failed, *self.foreign, *bad]


def open_page(browser: Any, viewport: dict[str, int] | None = None) -> tuple[Any, Watch]:
    """A new browser context and page, watched."""
    context = browser.new_context(viewport=viewport or DESKTOP)
    watch = Watch()

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host not in LOOPBACK and not route.request.url.startswith(("data:", "about:")):
            watch.foreign.append(f"request to a non-loopback origin: {route.request.url}")
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: watch.console_errors.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.console_errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: watch.failed.append(f"failed: {r.url} {r.failure}")
            if r.failure != "net::ERR_ABORTED" else None)  # the test moved on, not a fault
    page.on("response", lambda r: watch.statuses.append((r.status, r.url)))
    page.set_default_timeout(30_000)
    return page, watch


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from a test (Playwright's loop owns this thread)."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(work))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return results[0]


def shoot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, store: Store, email: str) -> None:
    page.goto(store.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
