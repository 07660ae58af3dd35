"""Schemathesis against the gateway's and each service's OpenAPI document, authenticated.

Each operation gets a few generated requests (`MSA_FUZZ_EXAMPLES`, default 10; the
runs are derandomized, so CI is repeatable) and every answer must pass
schemathesis' default checks: no 5xx, documented status codes, content types and
bodies, invalid input refused, valid input accepted. Services are called directly,
signed as the gateway on behalf of a signed-in administrator (so every public
operation is reachable); their internal operations are fuzzed as the operator, read
only ones (GET) alone, since saga participants' write routes trust their caller's
business logic. Needs the dev dependency `schemathesis>=4.0`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from msa.service_auth import OPERATOR, key_folder, load_credentials
from tests.api_surface import documents
from tests.shop import Bookstore

schemathesis = pytest.importorskip("schemathesis", reason="needs the dev dependency "
                                   "schemathesis>=4.0")
pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)
EXAMPLES = int(os.environ.get("MSA_FUZZ_EXAMPLES", "10"))
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/identity/register": "password rules (kinds of character) and deliverable emails",
    "POST /api/catalog/admin/books": "the ISBN-13 check digit",
    "POST /api/orders/checkout": "an empty cart cannot be checked out",
    "PUT /api/reviews/books/{book_id}/mine": "a rating is a strict integer: 3.0 is refused",
}
"""Operations that may refuse schema-valid input with 422, and the rule that does."""
CREDENTIALS_IN_THE_BODY = {"POST /api/identity/refresh", "POST /api/identity/login"}
"""Where 401 answers a made-up credential rather than a missing authentication."""


def fuzz(document: dict[str, Any], base_url: str,
         headers: Callable[[str], dict[str, str]]) -> list[str]:
    """Run every operation of `document`; a line per operation that failed a check."""
    failures = []
    config = schemathesis.Config.from_dict({"operations": [
        {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": [
            "2xx", "3xx", "401", "403", "404", "409", "422", "429"]}}}
        for name in RULES_BEYOND_THE_SCHEMA]})
    for result in schemathesis.openapi.from_dict(document, config=config).get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/internal/") and operation.method.upper() != "GET":
            continue
        statuses: list[int] = []
        try:
            _examples(operation, base_url, headers(operation.path), statuses)
        except (Exception, BaseExceptionGroup) as exc:  # a failed check: report it
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:800]}")
        if operation.label not in CREDENTIALS_IN_THE_BODY and statuses and all(
                status in (401, 403) for status in statuses):
            failures.append(f"{operation.label}: never got past authentication: {statuses}")
    return failures


def _examples(operation: Any, base_url: str, headers: dict[str, str],
              statuses: list[int]) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        # a client sends a fresh key with every request that changes state
        response = case.call_and_validate(
            base_url=base_url, timeout=30,
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        statuses.append(response.status_code)

    run()


async def test_the_gateway_passes_schemathesis(bookstore: Bookstore):
    admin = await bookstore.admin()
    document = (await bookstore.http.get("/openapi.json")).json()
    assert not fuzz(document, bookstore.runner.gateway_url, lambda _: admin.auth)


async def test_every_service_passes_schemathesis(bookstore: Bookstore):
    admin = await bookstore.admin()
    folder = key_folder(bookstore.runner.data_dir)
    gateway, operator = (load_credentials(folder, name) for name in ("gateway", OPERATOR))
    failures = []
    for service, document in (await documents(bookstore)).items():
        def headers(path: str, service: str = service) -> dict[str, str]:
            if path.startswith("/internal/"):
                return operator.headers(service)
            return {**gateway.headers(service), "X-User-Id": admin.user_id,
                    "X-User-Role": "admin"}

        failures += fuzz(document, bookstore.runner.addresses[service][0], headers)
    assert not failures, "\n\n".join(failures)
    await bookstore.check()
