"""Browsing the catalogue: pages, search by title or author, one book by id or ISBN."""

import uuid

from catalog.domain import book_id_for
from catalog.seed import SEED_COUNT, seed_books

BOOKS = "/api/catalog/books"


async def _page(catalog, **params) -> dict:
    response = await catalog.get(BOOKS, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_first_page_has_twenty_books_in_title_order_and_the_total(catalog):
    page = await _page(catalog)
    assert (page["limit"], page["offset"], len(page["items"])) == (20, 0, 20)
    assert page["total"] >= SEED_COUNT
    titles = [book["title"] for book in page["items"]]
    assert titles == sorted(titles)
    first = page["items"][0]
    assert set(first) == {"id", "isbn", "title", "author", "price_cents", "currency", "year",
                          "description", "rating_avg", "rating_count"}
    assert first["currency"] == "EUR" and first["rating_count"] == 0


async def test_the_pages_together_hold_every_book_once(catalog):
    total = (await _page(catalog, limit=1))["total"]
    seen: list[str] = []
    for offset in range(0, total, 100):
        page = await _page(catalog, limit=100, offset=offset)
        assert page["total"] == total
        seen += [book["id"] for book in page["items"]]
    assert len(seen) == len(set(seen)) == total
    assert {str(book_id_for(book.isbn)) for book in seed_books()} <= set(seen)
    beyond = await _page(catalog, offset=total)
    assert beyond["items"] == [] and beyond["total"] == total


async def test_a_page_size_outside_1_to_100_or_a_negative_offset_is_refused(catalog):
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}):
        response = await catalog.get(BOOKS, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_search_finds_a_word_of_the_title_in_any_case(catalog):
    expected = {b.isbn for b in seed_books() if "lighthouse" in b.title.lower()}
    assert expected
    page = await _page(catalog, q="LiGhThOuSe", limit=100)
    assert {book["isbn"] for book in page["items"]} >= expected
    assert page["total"] == len(page["items"])
    assert all("lighthouse" in (b["title"] + b["author"]).lower() for b in page["items"])


async def test_search_finds_an_author_by_part_of_their_name(catalog):
    page = await _page(catalog, q="okafor", limit=100)
    assert page["total"] > 0
    assert all("okafor" in book["author"].lower() for book in page["items"])
    assert {b.isbn for b in seed_books() if "Okafor" in b.author} <= {
        book["isbn"] for book in page["items"]}


async def test_the_author_filter_matches_the_whole_name_in_any_case(catalog):
    author = seed_books()[0].author
    page = await _page(catalog, author=author.upper(), limit=100)
    assert page["total"] == len(page["items"]) > 0
    assert {book["author"] for book in page["items"]} == {author}
    assert (await _page(catalog, author=author.split()[0]))["total"] == 0


async def test_search_treats_like_wildcards_as_plain_characters(catalog):
    for q in ("%", "_", "\\", "%e%"):
        assert (await _page(catalog, q=q))["total"] == 0, q
    assert (await _page(catalog, q="no such words anywhere"))["items"] == []


async def test_a_book_is_found_by_its_id_and_by_its_isbn_with_or_without_hyphens(catalog):
    seeded = seed_books()[7]
    book_id = str(book_id_for(seeded.isbn))
    by_id = await catalog.get(f"{BOOKS}/{book_id}")
    assert by_id.status_code == 200
    assert (by_id.json()["isbn"], by_id.json()["title"]) == (seeded.isbn, seeded.title)
    hyphenated = f"{seeded.isbn[:3]}-{seeded.isbn[3:5]}-{seeded.isbn[5:12]}-{seeded.isbn[12]}"
    for isbn in (seeded.isbn, hyphenated):
        by_isbn = await catalog.get(f"{BOOKS}/isbn/{isbn}")
        assert by_isbn.status_code == 200 and by_isbn.json() == by_id.json()


async def test_an_unknown_book_is_a_404_problem_and_a_bad_id_a_422(catalog):
    for path in (f"{BOOKS}/{uuid.uuid4()}", f"{BOOKS}/isbn/9780306406157"):
        response = await catalog.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await catalog.get(f"{BOOKS}/not-a-uuid")).status_code == 422


async def test_services_fetch_many_books_by_id_at_once(catalog):
    ids = [str(book_id_for(book.isbn)) for book in seed_books()[:3]] + [str(uuid.uuid4())]
    response = await catalog.get("/internal/catalog/books", params={"ids": ids})
    assert response.status_code == 200
    assert sorted(book["id"] for book in response.json()) == sorted(ids[:3])
