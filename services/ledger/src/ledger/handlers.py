"""Ledger's use cases: each writes balanced entries in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import adapters
from ledger.contracts import REFERENCE_VOIDED, SaleRequest
from ledger.domain import (
    EntryKind,
    SaleStatus,
    SaleVoided,
    credit_again,
    needs_reversal,
    revenue_cents,
    reversal_lines,
    sale_lines,
)
from msa import Conflict, OneStatement


async def record_sale(conn: AsyncConnection, command: SaleRequest) -> dict[str, Any]:
    """Credit the store's revenue with a paid order; a repeat answers the same entry."""
    entry_id = await adapters.claim_with_entry(conn, command.reference, SaleStatus.CREDITED,
                                               _sale_values(command), EntryKind.SALE,
                                               sale_lines(command.amount_cents))
    if entry_id is None:
        try:
            credit_again(await adapters.lock_sale_status(conn, command.reference))
        except SaleVoided:
            raise Conflict(f"reference {command.reference} was reversed before it was credited",
                           title="Reference voided", type=REFERENCE_VOIDED) from None
        entry_id, _ = await adapters.entry_of(conn, command.reference, EntryKind.SALE)
    return {"reference": command.reference, "status": SaleStatus.CREDITED, "entry_id": entry_id}


def first_sale(command: SaleRequest) -> OneStatement:
    """`record_sale`'s usual case (the reference's first call) as one statement."""
    return adapters.first_sale(command.reference, SaleStatus.CREDITED, _sale_values(command),
                               EntryKind.SALE, sale_lines(command.amount_cents),
                               {"reference": command.reference, "status": SaleStatus.CREDITED,
                                "entry_id": None})


def _sale_values(command: SaleRequest) -> dict[str, Any]:
    return {"order_id": command.order_id, "user_id": command.user_id,
            "amount_cents": command.amount_cents}


async def reverse_sale(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any]:
    """Cancel a sale with the opposite entry; before (or without) a sale, void the reference."""
    if await adapters.claim_sale(conn, reference, SaleStatus.VOIDED):
        return {"reference": reference, "status": SaleStatus.VOIDED}
    status = await adapters.lock_sale_status(conn, reference)
    if needs_reversal(status):
        _, original = await adapters.entry_of(conn, reference, EntryKind.SALE)
        await adapters.write_entry(conn, reference, EntryKind.REVERSAL, reversal_lines(original))
        await adapters.set_sale_status(conn, reference, SaleStatus.REVERSED)
        status = SaleStatus.REVERSED
    return {"reference": reference, "status": status}


async def audit(conn: AsyncConnection) -> dict[str, Any]:
    """The store balance, how many entries (and unbalanced ones: always 0), and every sale."""
    return {
        "revenue_cents": revenue_cents(await adapters.revenue_line_total(conn)),
        "entries": await adapters.count_entries(conn),
        "unbalanced_entries": await adapters.count_unbalanced(conn),
        "sales": await adapters.all_sales(conn),
    }


async def summary(conn: AsyncConnection) -> dict[str, int]:
    """What an administrator sees: net revenue and how many entries the book holds."""
    return {"revenue_cents": revenue_cents(await adapters.revenue_line_total(conn)),
            "entries": await adapters.count_entries(conn)}
