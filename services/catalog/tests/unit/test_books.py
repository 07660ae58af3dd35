"""ISBN rules, book ids and the seed catalogue, without a database."""

import pytest

from catalog.domain import book_id_for, is_valid_isbn13, isbn13_check_digit, normalise_isbn
from catalog.seed import SEED_COUNT, seed_books


@pytest.mark.parametrize(("first12", "digit"), [
    ("978030640615", 7),   # 978-0-306-40615-7
    ("978316148410", 0),   # 978-3-16-148410-0
    ("978186197271", 2),   # 978-1-86197-271-2
    ("979100000000", 8),
    ("978000000000", 2),
])
def test_the_isbn13_check_digit_weights_digits_one_and_three(first12, digit):
    assert isbn13_check_digit(first12) == digit


def test_a_check_digit_of_ten_is_written_as_zero():
    # 9·1 + 7·3 + 8·1 + 4·3 = 50: 10 - 50 % 10 would be 10
    assert isbn13_check_digit("978000000004") == 0
    assert is_valid_isbn13("9780000000040")


def test_a_valid_isbn13_has_thirteen_digits_a_bookland_prefix_and_its_check_digit():
    assert is_valid_isbn13("9780306406157")
    assert is_valid_isbn13("9791000000008")


@pytest.mark.parametrize("isbn", [
    "9780306406158",    # wrong check digit
    "9770306406157",    # not 978/979 (an ISSN prefix)
    "978030640615",     # twelve digits
    "97803064061570",   # fourteen digits
    "978-0306406157",   # not normalised
    "978030640615X",    # ISBN-10's X is not an ISBN-13 digit
    "",
])
def test_anything_else_is_not_a_valid_isbn13(isbn):
    assert not is_valid_isbn13(isbn)


def test_normalising_drops_hyphens_and_spaces():
    assert normalise_isbn("978-0-306 40615-7") == "9780306406157"


def test_a_book_id_is_derived_from_its_isbn_alone_the_same_everywhere():
    assert book_id_for("9780306406157") != book_id_for("9783161484100")
    # a fixed namespace: every database seeded anywhere gives a book the same id
    assert str(book_id_for("9780306406157")) == "cfdf900c-f1d2-50a1-b8ac-fb57094d4a87"


def test_the_seed_has_at_least_200_books_with_unique_valid_isbns_and_titles():
    books = seed_books()
    assert len(books) == SEED_COUNT >= 200
    assert len({book.isbn for book in books}) == len(books)
    assert len({book.title for book in books}) == len(books)
    assert len({book_id_for(book.isbn) for book in books}) == len(books)
    assert all(is_valid_isbn13(book.isbn) for book in books)


def test_the_seed_is_the_same_list_every_time():
    assert seed_books() == seed_books()
    assert seed_books(50) == seed_books()[:50]


def test_seed_books_have_plausible_prices_years_and_text():
    for book in seed_books():
        assert 499 <= book.price_cents <= 3999 and book.price_cents % 100 == 99  # x.99 EUR
        assert 1950 <= book.year <= 2026
        assert book.title and book.author.count(" ") == 1 and book.description
    assert len({book.author for book in seed_books()}) > 50
