"""The bookstore's invariants, read only through each service's audit API.

- money: wallet balances + store revenue in the ledger = all top-ups; no balance
  below zero; every ledger entry balanced;
- stock: available + reserved + sold = received per book; none below zero;
- orders: every order CONFIRMED or CANCELLED once quiet; every cart's count of lines
  (which caps it) is the number it holds; a confirmed order has
  exactly one debit and one ledger credit equal to its total and a committed
  reservation; a cancelled one has net zero money and holds no stock; no money
  moved for a saga that has no order; no saga driven by two replicas at once;
- events: every order event has its effect exactly once at every subscriber (one
  notification each); every book event exactly once at inventory (its inbox count
  per event, not only its stock rows); every book's latest rating at catalog
  (the average, count and version reviews published).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from msa import CheckResult, CheckSuite, SystemAccess

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
    audit = await access.get("orders", "/internal/orders/audit")
    order_list = audit["orders"]
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
        "miscounted_carts": audit["miscounted_carts"],
    })
    bad = result.violations
    if audit["miscounted_carts"]:
        bad.append(f"{audit['miscounted_carts']} cart(s) count another number of lines "
                   "than they hold")
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


BOOK_CREATED = "catalog.book.created.v1"
_RATING = ("average", "count", "version")


@dataclass
class _Ratings:
    """Reviews' latest rating per book against the copy catalog holds."""

    rated: int = 0  # books reviews has published a rating for, that catalog knows
    unknown: int = 0  # books reviews rated that catalog does not have
    behind: list[str] = field(default_factory=list)  # catalog holds an older version
    wrong: list[str] = field(default_factory=list)  # catalog holds another or a newer one


async def _ratings(access: SystemAccess) -> _Ratings:
    published = {str(r["book_id"]): r
                 for r in (await access.get("reviews", "/internal/reviews/audit"))["ratings"]}
    held = {str(r["book_id"]): r
            for r in (await access.get("catalog", "/internal/catalog/audit"))["ratings"]}
    found = _Ratings()
    absent = [book for book in published if book not in held]
    known = set(held) | await _books_known(access, absent)
    for book, rating in published.items():
        if book not in known:
            found.unknown += 1
            continue
        found.rated += 1
        copy = held.get(book, {"average": None, "count": 0, "version": 0})
        if copy["version"] < rating["version"]:
            found.behind.append(f"book {book}: catalog holds rating version {copy['version']} "
                                f"but reviews published {rating['version']}")
        elif any(copy[k] != rating[k] for k in _RATING):
            found.wrong.append(f"book {book}: catalog holds {_show(copy)} but reviews "
                               f"published {_show(rating)}")
    found.wrong += [f"book {book}: catalog holds {_show(copy)} that reviews never published"
                    for book, copy in held.items() if book not in published]
    return found


def _show(rating: dict[str, Any]) -> str:
    return f"average {rating['average']} of {rating['count']} (version {rating['version']})"


async def _books_known(access: SystemAccess, ids: list[str]) -> set[str]:
    """Which of `ids` are books in the catalog."""
    known: set[str] = set()
    for start in range(0, len(ids), 200):
        found = await access.get("catalog", "/internal/catalog/books", ids=ids[start:start + 200])
        known |= {str(book["id"]) for book in found}
    return known


def _book_events_handled(inventory_audit: dict[str, Any]) -> int:
    return sum(h["events"] for h in inventory_audit["handled"] if h["event_type"] == BOOK_CREATED)


async def events(access: SystemAccess) -> CheckResult:
    order_list = (await access.get("orders", "/internal/orders/audit"))["orders"]
    audit = await access.get("notifications", "/internal/notifications/audit")
    books = (await access.get("catalog", "/internal/catalog/audit"))["books"]
    inventory = await access.get("inventory", "/internal/inventory/audit")
    stock_rows, book_events = len(inventory["books"]), _book_events_handled(inventory)
    ratings = await _ratings(access)
    ended = sum(1 for order in order_list if order["status"] != "PENDING")
    counts = [event["count"] for event in audit["events"]]
    result = CheckResult("events", {
        "order_events": ended,
        "notified_events": len(counts),
        "notifications": audit["messages"],
        "books": books,
        "stock_rows": stock_rows,
        "book_events_handled": book_events,
        "rated_books": ratings.rated,
    })
    bad = result.violations
    duplicated = sum(1 for count in counts if count > 1)
    if duplicated:
        bad.append(f"{duplicated} order event(s) notified more than once")
    if len(counts) != ended:
        bad.append(f"{ended} orders ended but {len(counts)} order events reached notifications")
    if stock_rows != books:
        bad.append(f"catalog has {books} books but inventory learnt of {stock_rows}")
    # one book.created event per book: more handled means an effect taken twice
    if book_events > books:
        bad.append(f"inventory handled {book_events} book events for {books} books: "
                   f"{book_events - books} more than once")
    elif book_events < books:
        bad.append(f"inventory handled {book_events} book events for {books} books: "
                   f"{books - book_events} never reached it")
    bad += ratings.behind + ratings.wrong
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
    inventory = await access.get("inventory", "/internal/inventory/audit")
    learnt = min(len(inventory["books"]), _book_events_handled(inventory))
    if learnt < books:
        return f"{books - learnt} book event(s) not yet delivered"
    behind = (await _ratings(access)).behind
    if behind:
        return f"{len(behind)} rating event(s) not yet delivered"
    return None


CHECKS = CheckSuite(checks=[money, stock, orders, events], quiet=quiet)
