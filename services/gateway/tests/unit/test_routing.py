"""Which service a public path goes to, and the paths that go nowhere."""

from __future__ import annotations

import pytest

from gateway.routing import RouteTable, Target, is_plain
from msa.system import parse_system

SYSTEM = parse_system("""
[system]
name = "shop"
gateway = "edge"
[teams.t]
[services.edge]
team = "t"
app = "x:y"
port = 20200
database = false
routes = ["/api", "/"]
calls = ["wallet", "books"]
[services.wallet]
team = "t"
app = "x:y"
port = 20201
routes = ["/api/wallet"]
[services.books]
team = "t"
app = "x:y"
port = 20202
routes = ["/api/books/"]
""")
ROUTES = RouteTable(SYSTEM, "edge")

TRAVERSALS = [
    "/api/wallet/../../internal/wallet/audit", "/api/wallet/%2e%2e/%2e%2e/internal/wallet/audit",
    "/api/wallet/%2E%2E/x", "/api/wallet/.%2e/x", "/api/wallet/%2e./x", "/api/wallet/./x",
    "/api/wallet/%2e/x", "/api/wallet/%252e%252e/x", "/api/wallet/%25252E%25252E/x",
    "/api/wallet/..%2finternal", "/api/wallet/..%2Finternal", "/api/wallet/a%2fb",
    "/api/wallet/..%5cinternal", "/api/wallet/..%5Cinternal", "/api/wallet/a\\b",
    "/api/wallet//x", "//api/wallet", "/api/wallet/%252fx", "/api/wallet/..",
    "/api/wallet/%2e%2e", "api/wallet",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_a_path_with_dot_empty_or_encoded_separator_segments_goes_nowhere(path: str) -> None:
    assert not is_plain(path)
    assert ROUTES.target(path) is None


@pytest.mark.parametrize(("path", "service"), [
    ("/api/wallet", "wallet"), ("/api/wallet/topups", "wallet"), ("/api/wallet/", "wallet"),
    ("/api/books/9b1d/reviews", "books"), ("/api/wallet/caf%C3%A9", "wallet"),
    ("/api/wallet/a.b/..c/.d", "wallet"),
])
def test_a_plain_path_goes_to_the_service_owning_its_prefix(path: str, service: str) -> None:
    target = ROUTES.target(path)
    assert target is not None and target.service == service and target.path == path
    assert target.upstream_path() == path


@pytest.mark.parametrize("path", ["/api/walletx", "/api/nothing", "/internal/wallet/audit",
                                  "/api", "/"])
def test_a_path_no_service_owns_goes_nowhere(path: str) -> None:
    assert ROUTES.target(path) is None


def test_an_upstream_path_that_would_leave_its_prefix_is_refused() -> None:
    """The last check, should a path ever get past `is_plain`: dot segments resolved."""
    for path in ("/api/wallet/../../internal/wallet/audit", "/api/wallet/../books/x"):
        with pytest.raises(ValueError, match="would leave /api/wallet"):
            Target("wallet", "/api/wallet", path).upstream_path()
    for path in ("/api/wallet/\x7f", "/api/wallet/\xe9"):  # raw bytes no client would send
        with pytest.raises(ValueError):
            Target("wallet", "/api/wallet", path).upstream_path()
