"""Inventory's use cases: each changes stock and records its events in one transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from inventory import adapters
from inventory.contracts import (
    OUT_OF_STOCK,
    REFERENCE_VOIDED,
    RESERVATION_COMMITTED,
    ReserveStock,
    StockChanged,
)
from inventory.domain import (
    OutOfStock,
    ReferenceVoided,
    ReservationFinal,
    ReservationStatus,
    Stock,
    commit_source,
    merge_items,
    needs_release,
    reserve_again,
)
from msa import Conflict, NotFound, OneStatement, Runtime, emit

EXPIRY_BATCH = 100


async def add_book(conn: AsyncConnection, book_id: uuid.UUID) -> None:
    """A book the catalog created gets an empty stock row."""
    await adapters.add_book(conn, book_id)


async def restock(conn: AsyncConnection, book_id: uuid.UUID, quantity: int) -> dict[str, Any]:
    """Copies of a book arrived."""
    levels = await _locked(conn, {book_id: quantity})
    level = levels[book_id].restock(quantity)
    await _save(conn, [levels[book_id]], [level])
    return dataclasses.asdict(level)


async def reserve(conn: AsyncConnection, command: ReserveStock) -> dict[str, Any]:
    """Hold every item or none; a repeat for the reference answers its current state."""
    items = merge_items((item.book_id, item.quantity) for item in command.items)
    claimed = await adapters.claim_reference(conn, command.reference,
                                             ReservationStatus.RESERVED, command.ttl_seconds,
                                             items)
    if claimed is None:
        current = await adapters.lock_reservation(conn, command.reference)
        assert current is not None
        try:
            reserve_again(ReservationStatus(current["status"]))
        except ReferenceVoided:
            raise _voided(command.reference) from None
        return current
    await _take(conn, items, "reserved")  # short of copies: rolled back, items and all
    return claimed


def first_reservation(command: ReserveStock) -> OneStatement | None:
    """`reserve`'s usual case for one book (a new reference, enough copies) as one
    statement with the request's key; None for several books (their rows are locked in
    book id order, one update each, by the transaction)."""
    try:
        items = merge_items((item.book_id, item.quantity) for item in command.items)
    except Exception:
        return None  # the transaction refuses it, and the refusal is the key's answer
    if len(items) != 1:
        return None
    [(book_id, quantity)] = items.items()
    answer = {"reference": command.reference, "status": ReservationStatus.RESERVED,
              "expires_at": None}
    # the statement fills in the count it leaves
    changed = StockChanged(book_id=book_id, available=0)
    return adapters.first_reservation(command.reference, command.ttl_seconds, book_id,
                                      quantity, answer, [changed])


async def release(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any]:
    """Give a reservation's copies back; before (or without) a reservation, void it."""
    if await adapters.claim_reference(conn, reference, ReservationStatus.VOIDED) is not None:
        return {"reference": reference, "status": ReservationStatus.VOIDED}
    current = await adapters.lock_reservation(conn, reference)
    assert current is not None
    try:
        if needs_release(ReservationStatus(current["status"])):
            await _give_back(conn, [reference], ReservationStatus.RELEASED)
            current["status"] = ReservationStatus.RELEASED
    except ReservationFinal:
        raise Conflict(f"reservation {reference} is committed: its copies are sold",
                       type=RESERVATION_COMMITTED) from None
    return {"reference": reference, "status": current["status"]}


async def commit(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any]:
    """The copies are sold; if the hold expired meanwhile, take them from available again."""
    if await adapters.commit_if_reserved(conn, reference):  # the usual case: one statement
        return _committed(reference)
    current = await adapters.lock_reservation(conn, reference)
    if current is None:
        raise NotFound(f"no reservation {reference}")
    try:
        source = commit_source(ReservationStatus(current["status"]))
    except ReferenceVoided:
        raise _voided(reference) from None
    if source == "reserved":  # reserved by a request that committed after the first look
        await adapters.commit_if_reserved(conn, reference)
    elif source == "available":  # the hold expired: sell from what is available now
        await _take(conn, merge_items(await adapters.items_of(conn, [reference])), "sold")
        await adapters.set_status(conn, [reference], ReservationStatus.COMMITTED)
    return _committed(reference)


def first_commit(reference: uuid.UUID) -> OneStatement:
    """`commit`'s usual case (a held reservation) as one statement with the request's key."""
    return adapters.first_commit(reference, _committed(reference))


def _committed(reference: uuid.UUID) -> dict[str, Any]:
    return {"reference": reference, "status": ReservationStatus.COMMITTED}


async def expire_due(runtime: Runtime) -> int:
    """Release one batch of reservations past their expiry; how many were released."""
    async with runtime.db.begin() as conn:
        due = await adapters.lock_due(conn, EXPIRY_BATCH)
        if due:
            await _give_back(conn, due, ReservationStatus.EXPIRED)
    return len(due)


async def expire_reservations(runtime: Runtime) -> None:
    """Background task: every second, release what has expired (in batches)."""
    while True:
        if await expire_due(runtime) < EXPIRY_BATCH:
            await asyncio.sleep(1.0)


async def _give_back(conn: AsyncConnection, references: list[uuid.UUID],
                     status: ReservationStatus) -> None:
    items = merge_items(await adapters.items_of(conn, references))
    levels = await _locked(conn, items)
    await _save(conn, list(levels.values()), _apply(levels, items, Stock.release))
    await adapters.set_status(conn, references, status)


async def _take(conn: AsyncConnection, items: dict[uuid.UUID, int], into: str) -> None:
    """Take the copies from available, each book with one conditional update (in book id
    order, so two requests never wait on each other in a cycle); all or none."""
    short = []
    for book_id, quantity in items.items():
        available = await adapters.take_available(conn, book_id, quantity, into)
        if available is None:
            short.append(book_id)
        else:
            await emit(conn, StockChanged(book_id=book_id, available=available))
    if short:
        missing = await _missing(conn, short)
        if missing:
            raise NotFound(f"no stock for book {', '.join(missing)}", book_ids=missing)
        listed = [str(book_id) for book_id in short]
        raise Conflict(f"not enough copies of {', '.join(listed)}", title="Out of stock",
                       type=OUT_OF_STOCK, book_ids=listed)


async def _missing(conn: AsyncConnection, book_ids: list[uuid.UUID]) -> list[str]:
    known = {row["book_id"] for row in await adapters.available_of(conn, book_ids)}
    return [str(book_id) for book_id in book_ids if book_id not in known]


async def _locked(conn: AsyncConnection, items: dict[uuid.UUID, int]) -> dict[uuid.UUID, Stock]:
    levels = await adapters.lock_stock(conn, items)
    missing = [str(book_id) for book_id in items if book_id not in levels]
    if missing:
        raise NotFound(f"no stock for book {', '.join(missing)}", book_ids=missing)
    return levels


def _apply(levels: dict[uuid.UUID, Stock], items: dict[uuid.UUID, int],
           change: Callable[[Stock, int], Stock]) -> list[Stock]:
    changed, short = [], []
    for book_id, quantity in items.items():
        try:
            changed.append(change(levels[book_id], quantity))
        except OutOfStock:
            short.append(str(book_id))
    if short:
        raise Conflict(f"not enough copies of {', '.join(short)}", title="Out of stock",
                       type=OUT_OF_STOCK, book_ids=short)
    return changed


async def _save(conn: AsyncConnection, before: list[Stock], after: list[Stock]) -> None:
    old = {level.book_id: level.available for level in before}
    for level in after:
        await adapters.save_stock(conn, level)
        if old[level.book_id] != level.available:
            await emit(conn, StockChanged(book_id=level.book_id, available=level.available))


def _voided(reference: uuid.UUID) -> Conflict:
    return Conflict(f"reference {reference} was released before it was reserved",
                    title="Reference voided", type=REFERENCE_VOIDED)
