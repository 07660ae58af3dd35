"""The pages' small parts: amounts, carts, return paths, the service map, waterfalls."""

from __future__ import annotations

import base64
import json

from msa.system import load_system
from storefront.account import _safe_next, parse_amount
from storefront.basket import cart_digest
from storefront.console import service_map, traces
from storefront.web import token_claims


def test_amounts_are_read_as_a_customer_types_them() -> None:
    assert parse_amount("20") == 2000
    assert parse_amount("12.5") == 1250
    assert parse_amount(" 12,50 ") == 1250
    assert parse_amount("-5") == -500  # refused by the caller, not mistaken for 5
    assert parse_amount("1.001") is None
    assert parse_amount("ten") is None
    assert parse_amount("NaN") is None
    assert parse_amount("") is None


def test_a_cart_digest_ignores_order_but_not_quantities() -> None:
    one = [{"book_id": "b", "quantity": 1}, {"book_id": "a", "quantity": 2}]
    same = [{"book_id": "a", "quantity": 2}, {"book_id": "b", "quantity": 1}]
    assert cart_digest(one) == cart_digest(same)
    assert cart_digest(one) != cart_digest([{"book_id": "a", "quantity": 3},
                                            {"book_id": "b", "quantity": 1}])


def test_after_login_only_a_path_of_this_site_is_followed() -> None:
    assert _safe_next("/orders/1") == "/orders/1"
    for elsewhere in ("//evil.example/x", "https://evil.example", "/\\evil", None, ""):
        assert _safe_next(elsewhere) == "/"


def test_the_token_role_is_read_only_from_a_well_formed_token() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"role": "admin"}).encode()).rstrip(b"=")
    assert token_claims(f"h.{payload.decode()}.s") == {"role": "admin"}
    assert token_claims("garbage") == {}
    assert token_claims("a.!!!.c") == {}
    assert token_claims(None) == {}


def test_the_map_puts_callers_above_what_they_call_and_links_publishers_to_consumers() -> None:
    system = load_system()
    layer = service_map.layers(system)
    assert layer["gateway"] == 0
    assert layer["orders"] < layer["wallet"] and layer["orders"] < layer["inventory"]
    nodes, edges, height = service_map.layout(system)
    assert {n.name for n in nodes} == set(system.services)
    assert ("orders", "notifications", "event") in {(e.source, e.target, e.kind) for e in edges}
    assert ("orders", "wallet", "call") in {(e.source, e.target, e.kind) for e in edges}
    assert all(0 <= n.x <= service_map.WIDTH and 0 <= n.y < height for n in nodes)


def _span(span_id: str, parent: str | None, start: float, ms: float,
          path: str = "") -> dict[str, object]:
    return {"trace_id": "t" * 32, "span_id": span_id, "parent_span_id": parent, "name": span_id,
            "service": "orders", "start": start, "duration_ms": ms, "status": "ok",
            "attributes": {"url.path": path} if path else {}}


def test_a_waterfall_lists_children_under_their_parent_on_one_time_axis() -> None:
    spans = [_span("child-late", "root", 100.05, 10), _span("root", None, 100.0, 100),
             _span("child-early", "root", 100.01, 20), _span("grandchild", "child-early",
                                                               100.02, 5)]
    bars, total, height = traces.waterfall(spans)
    assert [b.span["span_id"] for b in bars] == ["root", "child-early", "grandchild",
                                                  "child-late"]
    assert [b.depth for b in bars] == [0, 1, 2, 1]
    assert total == 100.0 and height > 0
    root, early = bars[0], bars[1]
    assert root.x == traces.LABEL and early.x > root.x
    assert early.x + early.width <= root.x + root.width + 1e-6


def test_a_sagas_traces_are_those_calling_its_participants_largest_first() -> None:
    saga = "5f0c"
    spans = [_span("a", None, 1, 1, f"/internal/wallet/debits/{saga}/refund"),
             {**_span("b", None, 1, 1, f"/internal/x/{saga}/commit"), "trace_id": "u" * 32},
             {**_span("c", "b", 1, 1), "trace_id": "u" * 32},
             {**_span("d", None, 1, 1, "/other"), "trace_id": "v" * 32}]
    assert traces.traces_of_saga(spans, saga) == [("u" * 32, 2), ("t" * 32, 1)]
    summaries = traces.summaries(spans)
    assert {s.trace_id for s in summaries} == {"t" * 32, "u" * 32, "v" * 32}
    assert next(s for s in summaries if s.trace_id == "u" * 32).spans == 2
