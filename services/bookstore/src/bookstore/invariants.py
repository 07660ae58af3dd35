"""The bookstore's invariants, read only through each service's audit API.

- money: wallet balances + store revenue in the ledger = all top-ups; no balance
  below zero; every ledger entry balanced;
- stock: available + reserved + sold = received per book; none below zero;
- orders: every order CONFIRMED or CANCELLED once quiet; a confirmed order has
  exactly one debit and one ledger credit equal to its total and a committed
  reservation; a cancelled one has net zero money and holds no stock; no money
  moved for a saga that has no order; no saga driven by two replicas at once;
- events: every order event has its effect exactly once at every subscriber.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from msa.checks import CheckResult, CheckSuite, SystemAccess

_HELD = ("reserved", "committed")


async def money(access: SystemAccess) -> CheckResult:
    wallet = await access.get("wallet", "/internal/wallet/audit")
    ledger = await access.get("ledger", "/internal/ledger/audit")
    result = CheckResult("money", {
        "top_ups_cents": wallet["total_topups_cents"],
        "wallet_balances_cents": wallet["total_balance_cents"],
        "store_revenue_cents": ledger["revenue_cents"],
        "debits": len(wallet["debits"]),
        "ledger_sales": len(ledger["sales"]),
    })
    held = wallet["total_balance_cents"] + ledger["revenue_cents"]
    if held != wallet["total_topups_cents"]:
        result.violations.append(
            f"wallets + revenue = {held} cents but top-ups = {wallet['total_topups_cents']}: "
            f"{held - wallet['total_topups_cents']:+d} cents created")
    if wallet["negative_accounts"]:
        result.violations.append(f"{wallet['negative_accounts']} wallet(s) below zero")
    if ledger["unbalanced_entries"]:
        result.violations.append(f"{ledger['unbalanced_entries']} unbalanced ledger entries")
    return result


async def stock(access: SystemAccess) -> CheckResult:
    audit = await access.get("inventory", "/internal/inventory/audit")
    books = audit["books"]
    result = CheckResult("stock", {
        "books": len(books),
        "received": sum(b["received"] for b in books),
        "available": sum(b["available"] for b in books),
        "reserved": sum(b["reserved"] for b in books),
        "sold": sum(b["sold"] for b in books),
    })
    for book in books:
        parts = (book["available"], book["reserved"], book["sold"])
        if sum(parts) != book["received"] or min(parts) < 0:
            result.violations.append(
                f"book {book['book_id']}: available {parts[0]} + reserved {parts[1]} + sold "
                f"{parts[2]} != received {book['received']}")
    reserved: Counter[str] = Counter()
    for reservation in audit["reservations"]:
        if reservation["status"] == "reserved":
            for item in reservation["items"]:
                reserved[str(item["book_id"])] += item["quantity"]
    for book in books:
        if reserved[str(book["book_id"])] != book["reserved"]:
            result.violations.append(
                f"book {book['book_id']}: {book['reserved']} reserved but open reservations "
                f"hold {reserved[str(book['book_id'])]}")
    return result


def _by_reference(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["reference"]), []).append(row)
    return grouped


async def orders(access: SystemAccess) -> CheckResult:
    order_list = (await access.get("orders", "/internal/orders/audit"))["orders"]
    sagas = await access.get("orders", "/internal/sagas/audit")
    debits = _by_reference((await access.get("wallet", "/internal/wallet/audit"))["debits"])
    sales = _by_reference((await access.get("ledger", "/internal/ledger/audit"))["sales"])
    reservations = _by_reference(
        (await access.get("inventory", "/internal/inventory/audit"))["reservations"])
    statuses = Counter(order["status"] for order in order_list)
    result = CheckResult("orders", {
        "orders": len(order_list),
        "confirmed": statuses["CONFIRMED"],
        "cancelled": statuses["CANCELLED"],
        "pending": statuses["PENDING"],
        "overlapping_saga_drivers": sagas["overlapping_drivers"],
    })
    bad = result.violations
    if sagas["overlapping_drivers"]:
        bad.append(f"{sagas['overlapping_drivers']} saga(s) were driven by two replicas at once")
    known = set()
    for order in order_list:
        ref, total, oid = str(order["saga_id"]), order["total_cents"], order["id"]
        known.add(ref)
        taken = [d for d in debits.get(ref, []) if d["status"] == "debited"]
        credited = [s for s in sales.get(ref, []) if s["status"] == "credited"]
        holding = [r for r in reservations.get(ref, []) if r["status"] in _HELD]
        if order["status"] == "PENDING":
            bad.append(f"order {oid} is still PENDING")
        elif order["status"] == "CONFIRMED":
            if len(debits.get(ref, [])) != 1 or [d["amount_cents"] for d in taken] != [total]:
                bad.append(f"confirmed order {oid}: debits {debits.get(ref, [])} != one of {total}")
            if len(sales.get(ref, [])) != 1 or [s["amount_cents"] for s in credited] != [total]:
                bad.append(f"confirmed order {oid}: ledger {sales.get(ref, [])} != one of {total}")
            if [r["status"] for r in holding] != ["committed"]:
                bad.append(f"confirmed order {oid}: stock not committed ({holding})")
        else:
            if taken:
                bad.append(f"cancelled order {oid} still has its wallet debit")
            if credited:
                bad.append(f"cancelled order {oid} still has its ledger credit")
            if holding:
                bad.append(f"cancelled order {oid} still holds stock")
    for ref in set(debits) | set(sales):
        if ref not in known:
            bad.append(f"money moved for reference {ref}, which no order has")
    return result


async def events(access: SystemAccess) -> CheckResult:
    order_list = (await access.get("orders", "/internal/orders/audit"))["orders"]
    audit = await access.get("notifications", "/internal/notifications/audit")
    books = (await access.get("catalog", "/internal/catalog/audit"))["books"]
    stock_rows = len((await access.get("inventory", "/internal/inventory/audit"))["books"])
    ended = sum(1 for order in order_list if order["status"] != "PENDING")
    counts = [event["count"] for event in audit["events"]]
    result = CheckResult("events", {
        "order_events": ended,
        "notified_events": len(counts),
        "notifications": audit["messages"],
        "books": books,
        "stock_rows": stock_rows,
    })
    duplicated = sum(1 for count in counts if count > 1)
    if duplicated:
        result.violations.append(f"{duplicated} order event(s) notified more than once")
    if len(counts) != ended:
        result.violations.append(
            f"{ended} orders ended but {len(counts)} order events reached notifications")
    if stock_rows != books:
        result.violations.append(
            f"catalog has {books} books but inventory learnt of {stock_rows}")
    return result


async def quiet(access: SystemAccess) -> str | None:
    """None once no order is pending and no saga is active; else what is still busy."""
    sagas = (await access.get("orders", "/internal/sagas/audit"))["counts"]
    active = sagas.get("running", 0) + sagas.get("compensating", 0)
    if active:
        return f"{active} saga(s) in flight"
    order_list = (await access.get("orders", "/internal/orders/audit"))["orders"]
    ended = sum(1 for order in order_list if order["status"] != "PENDING")
    notified = len((await access.get("notifications", "/internal/notifications/audit"))["events"])
    if notified < ended:
        return f"{ended - notified} order event(s) not yet delivered"
    books = (await access.get("catalog", "/internal/catalog/audit"))["books"]
    stock_rows = len((await access.get("inventory", "/internal/inventory/audit"))["books"])
    if stock_rows < books:
        return f"{books - stock_rows} book event(s) not yet delivered"
    return None


CHECKS = CheckSuite(checks=[money, stock, orders, events], quiet=quiet)
