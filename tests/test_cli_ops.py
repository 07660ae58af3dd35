"""`msa check`, `msa sagas` and `msa dlq` against a running bookstore, as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.shop import Bookstore

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


def msa(bookstore: Bookstore, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MSA_DATA_DIR": str(bookstore.runner.data_dir)}
    return subprocess.run([sys.executable, "-m", "msa.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120)


async def test_msa_check_passes_on_a_used_system_and_prints_its_counts(bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    buyer = await bookstore.customer(credit=5000)
    await buyer.add_to_cart(book)
    await buyer.settled((await buyer.checkout()).json()["id"])

    done = msa(bookstore, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("money", "stock", "orders", "events"):
        assert f"ok {name}:" in done.stdout
    as_json = json.loads(msa(bookstore, "check", "--json").stdout)
    assert all(result["ok"] for result in as_json["results"])
    assert {r["name"]: r for r in as_json["results"]}["orders"]["counts"]["confirmed"] >= 1


async def test_msa_sagas_lists_and_shows_a_saga(bookstore: Bookstore):
    book = await bookstore.new_book(copies=1)
    buyer = await bookstore.customer(credit=5000)
    await buyer.add_to_cart(book)
    order = await buyer.settled((await buyer.checkout()).json()["id"])

    listed = msa(bookstore, "sagas", "list", "--status", "completed")
    assert listed.returncode == 0, listed.stderr
    assert "completed" in listed.stdout
    shown = msa(bookstore, "sagas", "show", order["saga_id"])
    assert shown.returncode == 0, shown.stderr
    assert "commit_stock" in shown.stdout
    refused = msa(bookstore, "sagas", "compensate", order["saga_id"])
    assert refused.returncode == 1
    assert refused.stderr.startswith("msa: ") and "Traceback" not in refused.stderr


async def test_msa_dlq_lists_dead_letters(bookstore: Bookstore):
    done = msa(bookstore, "dlq", "list")
    assert done.returncode == 0, done.stderr
    assert "dead letter(s)" in done.stdout


async def test_an_unknown_saga_service_is_one_line(bookstore: Bookstore):
    done = msa(bookstore, "sagas", "list", "--service", "ghost")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "unknown service 'ghost'" in done.stderr
