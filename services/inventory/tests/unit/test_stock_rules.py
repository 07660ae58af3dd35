"""The stock rules, without a database."""

import uuid

import pytest

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

BOOK = uuid.uuid4()


def test_restocked_copies_are_received_and_available():
    level = Stock(BOOK).restock(5)
    assert (level.received, level.available, level.reserved, level.sold) == (5, 5, 0, 0)


def test_reserving_moves_copies_from_available_to_reserved():
    level = Stock(BOOK).restock(5).reserve(3)
    assert (level.available, level.reserved) == (2, 3)


def test_reserving_more_than_available_is_out_of_stock():
    with pytest.raises(OutOfStock) as refused:
        Stock(BOOK).restock(2).reserve(3)
    assert refused.value.book_ids == [BOOK]


def test_releasing_gives_copies_back_and_committing_sells_them():
    held = Stock(BOOK).restock(5).reserve(3)
    assert held.release(3) == Stock(BOOK).restock(5)
    sold = held.commit(3)
    assert (sold.received, sold.available, sold.reserved, sold.sold) == (5, 2, 0, 3)


def test_selling_from_available_needs_the_copies_to_be_there():
    level = Stock(BOOK).restock(2).sell_available(2)
    assert (level.available, level.sold) == (0, 2)
    with pytest.raises(OutOfStock):
        level.sell_available(1)


def test_stock_never_goes_below_zero_or_stops_adding_up():
    with pytest.raises(ValueError):
        Stock(BOOK).restock(1).release(1)
    with pytest.raises(ValueError):
        Stock(BOOK, received=1, available=1, reserved=1)


@pytest.mark.parametrize("quantity", [0, -1])
def test_quantities_must_be_positive(quantity):
    with pytest.raises(ValueError):
        Stock(BOOK).restock(quantity)


def test_items_are_merged_per_book_and_sorted_so_locks_never_cycle():
    a, b = sorted([uuid.uuid4(), uuid.uuid4()])
    assert list(merge_items([(b, 1), (a, 2), (b, 3)]).items()) == [(a, 2), (b, 4)]


def test_a_reserve_after_a_release_is_refused_but_a_repeat_is_not():
    for status in (ReservationStatus.RELEASED, ReservationStatus.VOIDED):
        with pytest.raises(ReferenceVoided):
            reserve_again(status)
    reserve_again(ReservationStatus.RESERVED)


def test_only_a_held_reservation_gives_stock_back_and_a_committed_one_cannot():
    assert needs_release(ReservationStatus.RESERVED)
    for status in (ReservationStatus.RELEASED, ReservationStatus.VOIDED,
                   ReservationStatus.EXPIRED):
        assert not needs_release(status)
    with pytest.raises(ReservationFinal):
        needs_release(ReservationStatus.COMMITTED)


def test_a_commit_takes_held_copies_or_after_expiry_available_ones():
    assert commit_source(ReservationStatus.RESERVED) == "reserved"
    assert commit_source(ReservationStatus.EXPIRED) == "available"
    assert commit_source(ReservationStatus.COMMITTED) is None
    with pytest.raises(ReferenceVoided):
        commit_source(ReservationStatus.VOIDED)
