"""Wallet's use cases: each moves money and records its events in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from msa import Conflict, OneStatement, business_counter, emit
from wallet import adapters
from wallet.contracts import (
    INSUFFICIENT_FUNDS,
    REFERENCE_VOIDED,
    AccountCredited,
    AccountDebited,
    DebitRequest,
)
from wallet.domain import (
    Account,
    DebitStatus,
    DebitVoided,
    InsufficientFunds,
    TransactionKind,
    debit_again,
    needs_refund,
)

TOPUPS = business_counter("wallet_topups", "Top-ups of customer accounts", service="wallet")
TOPUP_CENTS = business_counter("wallet_topup_cents", "Money topped up, in cents",
                               service="wallet")


async def top_up(conn: AsyncConnection, user_id: uuid.UUID, amount_cents: int) -> dict[str, Any]:
    """Money enters the store: the account is created on its first top-up."""
    account = (await adapters.lock_account(conn, user_id, create=True)).credit(amount_cents)
    await adapters.save_account(conn, account)
    transaction_id = await adapters.record(conn, user_id, TransactionKind.TOPUP, amount_cents)
    await emit(conn, AccountCredited(user_id=user_id, amount_cents=amount_cents,
                                     balance_cents=account.balance_cents,
                                     reference=transaction_id, kind="topup"))
    TOPUPS.inc()
    TOPUP_CENTS.inc(amount_cents)
    return {"transaction_id": transaction_id, "balance_cents": account.balance_cents}


async def debit(conn: AsyncConnection, command: DebitRequest) -> dict[str, Any]:
    """Pay for a checkout; a repeat for the reference answers without paying twice.

    The usual first debit is one statement (claim, take, history line); a balance
    that did not cover it is looked at again before refusing."""
    claimed, balance = await adapters.claim_and_debit(conn, command.reference, command.user_id,
                                                      command.amount_cents)
    if not claimed:
        current = await adapters.lock_debit(conn, command.reference)
        try:
            debit_again(DebitStatus(current["status"]))
        except DebitVoided:
            raise Conflict(f"reference {command.reference} was refunded before it was debited",
                           title="Reference voided", type=REFERENCE_VOIDED) from None
        return {"reference": command.reference, "status": DebitStatus.DEBITED,
                "balance_cents": await adapters.balance_of(conn, current["user_id"])}
    if balance is None:
        balance = await _debit_when_covered(conn, command)
    await emit(conn, AccountDebited(user_id=command.user_id, amount_cents=command.amount_cents,
                                    balance_cents=balance, reference=command.reference))
    return {"reference": command.reference, "status": DebitStatus.DEBITED,
            "balance_cents": balance}


def first_debit(command: DebitRequest) -> OneStatement:
    """`debit`'s usual case (a first debit the balance covers) as one statement with the
    request's key; the statement fills in the new balance (answer and event)."""
    paid = AccountDebited(user_id=command.user_id, amount_cents=command.amount_cents,
                          balance_cents=0, reference=command.reference)
    return adapters.first_debit(command.reference, command.user_id, command.amount_cents,
                                {"reference": command.reference, "status": DebitStatus.DEBITED,
                                 "balance_cents": None},
                                [paid])


async def _debit_when_covered(conn: AsyncConnection, command: DebitRequest) -> int:
    """Take the money once the balance covers it (a top-up may have committed since the
    first try), or refuse with the domain's reason; the new balance."""
    while (balance := await adapters.debit_account(conn, command.user_id,
                                                   command.amount_cents)) is None:
        account = Account(command.user_id, await adapters.balance_of(conn, command.user_id))
        try:
            account.debit(command.amount_cents)  # the domain says why it could not
        except InsufficientFunds as refusal:
            raise Conflict(str(refusal), title="Insufficient funds", type=INSUFFICIENT_FUNDS,
                           balance_cents=account.balance_cents) from None
        # a top-up committed in between: enough now, try again
    await adapters.record(conn, command.user_id, TransactionKind.DEBIT, command.amount_cents,
                          command.reference)
    return balance


async def refund(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any]:
    """Give a debit's money back; before (or without) a debit, void the reference."""
    if await adapters.claim_debit(conn, reference, DebitStatus.VOIDED):
        return {"reference": reference, "status": DebitStatus.VOIDED}
    current = await adapters.lock_debit(conn, reference)
    if not needs_refund(DebitStatus(current["status"])):
        return {"reference": reference, "status": current["status"]}
    user_id, amount = current["user_id"], current["amount_cents"]
    account = (await adapters.lock_account(conn, user_id, create=True)).credit(amount)
    await adapters.save_account(conn, account)
    await adapters.record(conn, user_id, TransactionKind.REFUND, amount, reference)
    await adapters.set_debit_status(conn, reference, DebitStatus.REFUNDED)
    await emit(conn, AccountCredited(user_id=user_id, amount_cents=amount,
                                     balance_cents=account.balance_cents, reference=reference,
                                     kind="refund"))
    return {"reference": reference, "status": DebitStatus.REFUNDED}
