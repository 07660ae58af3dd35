"""At least 200 plausible, generated books (deterministic: the same list every time)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from catalog.domain import isbn13_check_digit

_ADJECTIVES = [
    "Silent", "Hidden", "Last", "Golden", "Broken", "Northern", "Quiet", "Burning", "Lost",
    "Distant", "Winter", "Crimson", "Paper", "Glass", "Iron", "Midnight", "Salt", "Wild",
    "Borrowed", "Endless",
]
_NOUNS = [
    "Garden", "River", "Library", "Harbour", "Orchard", "Lighthouse", "Empire", "Letters",
    "Cartographer", "Archive", "Season", "Bridge", "Compass", "Kingdom", "Tide", "Machine",
    "Sparrow", "Atlas", "Inheritance", "Clockmaker",
]
_FORMS = ["The {a} {n}", "{n} of the {a} Coast", "A {a} {n}", "The {n}'s Daughter",
          "Notes on the {a} {n}", "After the {n}"]
_FIRST = ["Ada", "Tomas", "Ines", "Kofi", "Mira", "Jonas", "Leila", "Arjun", "Sofia", "Emeka",
          "Hana", "Pavel", "Clara", "Mateo", "Yuki", "Nadia", "Oskar", "Amara", "Lucas", "Zara"]
_LAST = ["Lindqvist", "Okafor", "Moreau", "Tanaka", "Alvarez", "Novak", "Haddad", "Brennan",
         "Kowalski", "Mensah", "Rossi", "Nakamura", "Fischer", "Castillo", "Eriksen", "Duarte"]
_BLURBS = [
    "A story of loss and repair across three generations.",
    "An unlikely friendship tested by a hard winter.",
    "A meticulous history told through forgotten objects.",
    "A mystery that begins with a misdelivered letter.",
    "An essay collection on maps, memory and belonging.",
]

SEED_COUNT = 240


@dataclass(frozen=True)
class SeedBook:
    isbn: str
    title: str
    author: str
    price_cents: int
    year: int
    description: str


def seed_books(count: int = SEED_COUNT) -> list[SeedBook]:
    """The seed catalogue: unique ISBNs and titles, prices 4.99–38.99."""
    rng = random.Random(20261125)
    books: list[SeedBook] = []
    titles: set[str] = set()
    while len(books) < count:
        form = rng.choice(_FORMS)
        title = form.format(a=rng.choice(_ADJECTIVES), n=rng.choice(_NOUNS))
        if title in titles:
            title = f"{title}, Volume {len(books) % 7 + 2}"
            if title in titles:
                continue
        titles.add(title)
        first12 = f"978{len(books) + 100000000:09d}"
        isbn = first12 + str(isbn13_check_digit(first12))
        books.append(SeedBook(
            isbn=isbn,
            title=title,
            author=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            price_cents=rng.randrange(499, 3999, 100),
            year=rng.randint(1950, 2026),
            description=rng.choice(_BLURBS),
        ))
    return books
