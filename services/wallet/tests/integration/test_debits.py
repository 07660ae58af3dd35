"""Debits and refunds by checkout reference: they commute, repeat safely and never overdraw."""

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

DEBITS = "/internal/wallet/debits"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _debit(wallet, user, reference, cents, headers=None):
    body = {"reference": str(reference), "user_id": user["X-User-Id"], "amount_cents": cents}
    return await wallet.post(DEBITS, json=body, headers=headers or _key())


async def _refund(wallet, reference):
    return await wallet.post(f"{DEBITS}/{reference}/refund", headers=_key())


async def _balance(wallet, user) -> int:
    return (await wallet.get("/api/wallet", headers=user)).json()["balance_cents"]


async def _audit(wallet) -> dict:
    body = (await wallet.get("/internal/wallet/audit")).json()
    body["debits"] = {d["reference"]: d for d in body["debits"]}
    return body


async def test_a_debit_takes_the_amount_from_the_balance(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    response = await _debit(wallet, user, reference, 400)
    assert response.status_code == 201
    assert response.json() == {"reference": str(reference), "status": "debited",
                               "balance_cents": 600}
    debit = (await _audit(wallet))["debits"][str(reference)]
    assert debit == {"reference": str(reference), "user_id": user["X-User-Id"],
                     "amount_cents": 400, "status": "debited"}
    history = (await wallet.get("/api/wallet/transactions", headers=user)).json()
    assert (history[0]["kind"], history[0]["reference"]) == ("debit", str(reference))


async def test_a_debit_larger_than_the_balance_is_refused_and_writes_nothing(wallet, customer):
    user, reference = await customer(300), uuid.uuid4()
    response = await _debit(wallet, user, reference, 301)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:bookstore:insufficient-funds"
    assert await _balance(wallet, user) == 300
    assert str(reference) not in (await _audit(wallet))["debits"]
    stranger = {"X-User-Id": str(uuid.uuid4())}
    assert (await _debit(wallet, stranger, uuid.uuid4(), 1)).status_code == 409


async def test_a_repeated_call_returns_the_stored_answer_and_debits_once(wallet, customer):
    user, reference, headers = await customer(1000), uuid.uuid4(), _key()
    first = await _debit(wallet, user, reference, 100, headers)
    again = await _debit(wallet, user, reference, 100, headers)
    assert again.json() == first.json()
    assert (await _debit(wallet, user, reference, 200, headers)).status_code == 422
    assert await _balance(wallet, user) == 900


async def test_debiting_a_reference_twice_pays_once(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    await _debit(wallet, user, reference, 100)
    second = await _debit(wallet, user, reference, 100)
    assert second.status_code == 201
    assert second.json() == {"reference": str(reference), "status": "debited",
                             "balance_cents": 900}


async def test_a_debit_is_announced_with_the_balance_it_left(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    await _debit(wallet, user, reference, 350)
    async with wallet.app.state.runtime.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT payload FROM msa_outbox WHERE event_type = 'wallet.account.debited.v1' "
            "AND payload->>'reference' = :ref"), {"ref": str(reference)})).all()
    assert [row.payload for row in rows] == [{
        "user_id": user["X-User-Id"], "amount_cents": 350, "balance_cents": 650,
        "reference": str(reference)}]


async def test_a_key_reused_for_another_reference_is_refused_and_writes_nothing(
        wallet, customer):
    user, headers = await customer(1000), _key()
    first = uuid.uuid4()
    assert (await _debit(wallet, user, first, 100, headers)).status_code == 201
    other = uuid.uuid4()
    assert (await _debit(wallet, user, other, 100, headers)).status_code == 422
    assert await _balance(wallet, user) == 900
    assert str(other) not in (await _audit(wallet))["debits"]


async def test_first_calls_for_one_reference_at_once_pay_once(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    answers = await asyncio.gather(*(_debit(wallet, user, reference, 100) for _ in range(6)))
    assert {a.status_code for a in answers} == {201}
    assert {a.json()["status"] for a in answers} == {"debited"}
    assert await _balance(wallet, user) == 900
    history = (await wallet.get("/api/wallet/transactions", headers=user)).json()
    assert [line["kind"] for line in history].count("debit") == 1


async def test_a_refund_gives_the_money_back_once(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    await _debit(wallet, user, reference, 250)
    first, second = await _refund(wallet, reference), await _refund(wallet, reference)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"reference": str(reference), "status": "refunded"}
    assert await _balance(wallet, user) == 1000
    late = await _debit(wallet, user, reference, 250)
    assert late.status_code == 409
    assert late.json()["type"] == "urn:bookstore:reference-voided"
    kinds = [t["kind"] for t in (await wallet.get("/api/wallet/transactions",
                                                  headers=user)).json()]
    assert kinds == ["refund", "debit", "topup"]


async def test_a_refund_before_its_debit_voids_the_reference(wallet, customer):
    user, reference = await customer(1000), uuid.uuid4()
    voided = await _refund(wallet, reference)
    assert voided.json() == {"reference": str(reference), "status": "voided"}
    late = await _debit(wallet, user, reference, 100)
    assert late.status_code == 409
    assert late.json()["type"] == "urn:bookstore:reference-voided"
    assert (await _refund(wallet, reference)).json()["status"] == "voided"
    assert await _balance(wallet, user) == 1000
    debit = (await _audit(wallet))["debits"][str(reference)]
    assert (debit["status"], debit["amount_cents"]) == ("voided", 0)


async def test_bad_debits_are_refused_and_write_nothing(wallet, customer):
    user = await customer(1000)
    before = await _audit(wallet)
    for body in ({"reference": str(uuid.uuid4()), "user_id": user["X-User-Id"],
                  "amount_cents": 0},
                 {"reference": str(uuid.uuid4()), "user_id": user["X-User-Id"],
                  "amount_cents": -5},
                 {"reference": str(uuid.uuid4()), "user_id": "someone", "amount_cents": 5},
                 {"reference": str(uuid.uuid4()), "amount_cents": 5},
                 {"reference": str(uuid.uuid4()), "user_id": user["X-User-Id"],
                  "amount_cents": 5, "status": "refunded"}):
        assert (await wallet.post(DEBITS, json=body, headers=_key())).status_code == 422, body
    no_key = await wallet.post(DEBITS, json={"reference": str(uuid.uuid4()),
                                             "user_id": user["X-User-Id"], "amount_cents": 5})
    assert no_key.status_code == 400
    assert (await wallet.post(f"{DEBITS}/not-a-uuid/refund", headers=_key())).status_code == 422
    assert await _audit(wallet) == before


async def test_concurrent_debits_never_overdraw_the_account(wallet, customer):
    user = await customer(1000)
    answers = await asyncio.gather(*(_debit(wallet, user, uuid.uuid4(), 300)
                                     for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 17
    assert await _balance(wallet, user) == 100


async def test_a_debit_and_its_refund_racing_leave_the_balance_whole(wallet, customer):
    user = await customer(1000)
    references = [uuid.uuid4() for _ in range(8)]
    await asyncio.gather(*(call for reference in references for call in (
        _debit(wallet, user, reference, 100), _refund(wallet, reference))))
    assert await _balance(wallet, user) == 1000
    debits = (await _audit(wallet))["debits"]
    assert {debits[str(r)]["status"] for r in references} <= {"refunded", "voided"}


async def test_the_database_refuses_a_balance_below_zero(wallet, customer):
    user = await customer(100)
    async with wallet.app.state.runtime.db.connect() as conn:
        with pytest.raises(IntegrityError, match="accounts_never_below_zero"):
            await conn.execute(text("UPDATE accounts SET balance_cents = -1 WHERE user_id = :u"),
                               {"u": uuid.UUID(user["X-User-Id"])})
    assert await _balance(wallet, user) == 100


async def test_the_money_adds_up_after_all_of_the_above(wallet):
    audit = await _audit(wallet)
    debited = sum(d["amount_cents"] for d in audit["debits"].values()
                  if d["status"] == "debited")
    assert audit["total_balance_cents"] + debited == audit["total_topups_cents"]
    assert audit["negative_accounts"] == 0
