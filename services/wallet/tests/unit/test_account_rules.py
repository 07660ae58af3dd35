"""The account rules, without a database."""

import uuid

import pytest

from wallet.domain import (
    Account,
    DebitStatus,
    DebitVoided,
    InsufficientFunds,
    debit_again,
    needs_refund,
)

USER = uuid.uuid4()


def test_credit_adds_to_the_balance_and_debit_takes_from_it():
    assert Account(USER).credit(500).debit(200).balance_cents == 300


def test_a_debit_larger_than_the_balance_is_refused():
    with pytest.raises(InsufficientFunds):
        Account(USER, 100).debit(101)


def test_the_whole_balance_can_be_spent():
    assert Account(USER, 100).debit(100).balance_cents == 0


def test_a_balance_is_never_below_zero():
    with pytest.raises(ValueError):
        Account(USER, -1)


@pytest.mark.parametrize("amount", [0, -5])
def test_amounts_must_be_positive(amount):
    with pytest.raises(ValueError):
        Account(USER, 100).credit(amount)
    with pytest.raises(ValueError):
        Account(USER, 100).debit(amount)


def test_a_debit_after_a_refund_or_void_is_refused_but_a_repeat_is_not():
    debit_again(DebitStatus.DEBITED)
    for status in (DebitStatus.REFUNDED, DebitStatus.VOIDED):
        with pytest.raises(DebitVoided):
            debit_again(status)


def test_only_a_debited_reference_gives_money_back():
    assert needs_refund(DebitStatus.DEBITED)
    assert not needs_refund(DebitStatus.REFUNDED)
    assert not needs_refund(DebitStatus.VOIDED)
