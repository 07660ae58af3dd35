"""The rendered dev overlay, run with `podman kube play` on locally built images.

The images are built from the Containerfiles `msa deploy images` writes, the
manifests are `kubectl kustomize` of the rendered dev overlay, and the bookstore
answers through its gateway: a customer checks out, and the invariant checks
`msa check` runs pass. Skipped (never passed) where podman, kubectl or, for a
first base image, debootstrap is missing. Everything started is stopped and every
image built is removed, also on failure. Time to ready and image sizes are
printed (`pytest -s`) for the record.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from msa.checks import SystemAccess, load_suite, messaging_quiet
from msa.system import System, load_system
from msa.tools.deploy import images
from msa.tools.deploy.trial import Trial
from tests.shop import PASSWORD, Shopper

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.timeout(1500)


def _missing_tools() -> str | None:
    for tool in ("podman", "kubectl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if shutil.which("debootstrap") is None and subprocess.run(
            ["podman", "image", "exists", images.DEFAULT_BASE_IMAGE],
            env=images.podman_env(), capture_output=True).returncode != 0:
        return f"no {images.DEFAULT_BASE_IMAGE} and no debootstrap to make it"
    return None


@pytest.fixture(scope="module")
def system() -> System:
    return load_system(ROOT / "system.toml")


@pytest.fixture(scope="module")
def trial(system: System) -> Iterator[Trial]:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"{missing}: the dev overlay was not run under podman")
    running = Trial(system, f"test-{uuid.uuid4().hex[:8]}")
    try:
        running.build()
        running.up()
        sizes = ", ".join(f"{ref.split('/')[-1]} {size / 1e6:.0f} MB"
                          for ref, size in running.built.items())
        print(f"\nready in {running.seconds_to_ready:.1f} s after podman kube play; {sizes}")
        yield running
    finally:
        running.down()


@pytest.fixture
async def gateway(trial: Trial) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=trial.gateway_url, timeout=30) as client:
        yield client


async def test_a_checkout_completes_through_the_gateway_and_the_checks_pass(
        trial: Trial, system: System, gateway: httpx.AsyncClient) -> None:
    email = f"pod-{uuid.uuid4().hex[:8]}@example.com"
    registered = await gateway.post("/api/identity/register",
                                    json={"email": email, "password": PASSWORD},
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
    assert registered.status_code == 201, registered.text
    login = await gateway.post("/api/identity/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    shopper = Shopper(gateway, login.json()["access_token"], registered.json()["id"], email)
    assert await shopper.top_up(10_000) == 10_000
    books = await gateway.get("/api/catalog/books", params={"limit": 1})
    assert books.status_code == 200, books.text
    book = books.json()["items"][0]
    assert (await shopper.add_to_cart(book["id"])).status_code in (200, 201)
    checkout = await shopper.checkout()
    assert checkout.status_code in (200, 201, 202), checkout.text
    order = await shopper.settled(checkout.json()["id"], timeout=60)
    assert order["status"] == "CONFIRMED", order
    assert await shopper.balance() == 10_000 - order["total_cents"]

    assert system.system.checks
    suite = load_suite(system.system.checks)
    access = SystemAccess(trial.addresses, data_dir=trial.host_dir)
    try:
        busy = await suite.wait_quiet(access, 60, also=[
            messaging_quiet(system.publishers, trial.nats_url)])
        results = await suite.run(access)
    finally:
        await access.aclose()
    assert busy is None
    assert results and all(result.ok for result in results), [
        (result.name, result.violations[:3]) for result in results if not result.ok]


def test_podman_ran_the_manifests_as_rendered(trial: Trial) -> None:
    from msa.tools.deploy.podman import podman

    listed = podman("ps", "--format", "{{.Names}}", what="listing containers").split()
    for name in ("gateway", "orders", "postgres", "nats"):
        assert any(container.startswith(f"{name}-pod") for container in listed), listed
    inspected = podman("inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}",
                       next(c for c in listed if c.startswith("orders-pod")),
                       what="inspecting orders")
    user, read_only = inspected.split()
    assert user.split(":")[0] == "10001" and read_only == "true"
    assert "Service/orders" in trial.not_honoured
    assert "HorizontalPodAutoscaler/orders" in trial.not_honoured
    assert all(ref.endswith(f":{trial.tag}") for ref in trial.built)
