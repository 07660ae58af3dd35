"""The double-entry rules, without a database."""

import pytest

from ledger.domain import (
    LedgerAccount,
    Line,
    SaleStatus,
    SaleVoided,
    UnbalancedEntry,
    balanced,
    credit_again,
    needs_reversal,
    revenue_cents,
    reversal_lines,
    sale_lines,
)


def test_a_sale_debits_customer_credit_and_credits_revenue():
    assert sale_lines(1299) == (Line(LedgerAccount.CUSTOMER_CREDIT, 1299),
                                Line(LedgerAccount.REVENUE, -1299))


def test_a_reversal_negates_every_line_and_still_balances():
    lines = sale_lines(500)
    assert reversal_lines(lines) == (Line(LedgerAccount.CUSTOMER_CREDIT, -500),
                                     Line(LedgerAccount.REVENUE, 500))
    assert sum(line.amount_cents for line in lines + reversal_lines(lines)) == 0


@pytest.mark.parametrize("lines", [
    [Line(LedgerAccount.REVENUE, -100), Line(LedgerAccount.CUSTOMER_CREDIT, 99)],
    [Line(LedgerAccount.REVENUE, 0), Line(LedgerAccount.CUSTOMER_CREDIT, 0)],
    [],
])
def test_an_entry_that_does_not_balance_is_refused(lines):
    with pytest.raises(UnbalancedEntry):
        balanced(lines)


@pytest.mark.parametrize("amount", [0, -1])
def test_a_sale_must_be_positive(amount):
    with pytest.raises(ValueError):
        sale_lines(amount)


def test_revenue_is_the_credit_balance_of_the_revenue_account():
    assert revenue_cents(-1500) == 1500


def test_a_sale_after_a_reversal_or_void_is_refused_but_a_repeat_is_not():
    credit_again(SaleStatus.CREDITED)
    for status in (SaleStatus.REVERSED, SaleStatus.VOIDED):
        with pytest.raises(SaleVoided):
            credit_again(status)


def test_only_a_credited_sale_is_reversed():
    assert needs_reversal(SaleStatus.CREDITED)
    assert not needs_reversal(SaleStatus.REVERSED)
    assert not needs_reversal(SaleStatus.VOIDED)
