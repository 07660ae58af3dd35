"""Sales and their reversals by checkout reference: balanced entries that commute."""

import asyncio
import uuid

SALES = "/internal/ledger/sales"
ADMIN = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _sale(reference, cents=1000, **changes):
    return {"reference": str(reference), "order_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()), "amount_cents": cents, **changes}


async def _credit(ledger, reference, cents=1000, headers=None):
    return await ledger.post(SALES, json=_sale(reference, cents), headers=headers or _key())


async def _reverse(ledger, reference):
    return await ledger.post(f"{SALES}/{reference}/reverse", headers=_key())


async def _audit(ledger) -> dict:
    body = (await ledger.get("/internal/ledger/audit")).json()
    body["sales"] = {s["reference"]: s for s in body["sales"]}
    return body


async def test_a_sale_credits_revenue_with_a_balanced_entry(ledger):
    before = await _audit(ledger)
    reference = uuid.uuid4()
    response = await _credit(ledger, reference, 1299)
    assert response.status_code == 201
    assert response.json()["status"] == "credited"
    assert uuid.UUID(response.json()["entry_id"])
    audit = await _audit(ledger)
    assert audit["revenue_cents"] == before["revenue_cents"] + 1299
    assert audit["unbalanced_entries"] == 0
    sale = audit["sales"][str(reference)]
    assert (sale["amount_cents"], sale["status"]) == (1299, "credited")


async def test_a_repeated_call_returns_the_stored_answer_and_credits_once(ledger):
    before = (await _audit(ledger))["revenue_cents"]
    body, headers = _sale(uuid.uuid4(), 500), _key()
    first = await ledger.post(SALES, json=body, headers=headers)
    again = await ledger.post(SALES, json=body, headers=headers)
    assert again.json() == first.json()
    other = await ledger.post(SALES, json={**body, "amount_cents": 600}, headers=headers)
    assert other.status_code == 422
    assert (await _audit(ledger))["revenue_cents"] == before + 500


async def test_crediting_a_reference_twice_answers_the_same_entry(ledger):
    reference = uuid.uuid4()
    first, second = await _credit(ledger, reference), await _credit(ledger, reference)
    assert second.status_code == 201
    assert second.json() == first.json()


async def test_concurrent_credits_of_one_reference_write_one_entry(ledger):
    before = await ledger.get("/api/ledger/summary", headers=ADMIN)
    reference = uuid.uuid4()
    answers = await asyncio.gather(*(_credit(ledger, reference, 100) for _ in range(10)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["entry_id"] for a in answers}) == 1
    after = await ledger.get("/api/ledger/summary", headers=ADMIN)
    assert after.json()["revenue_cents"] == before.json()["revenue_cents"] + 100
    assert after.json()["entries"] == before.json()["entries"] + 1


async def test_a_reversal_cancels_the_sale_once(ledger):
    before = (await _audit(ledger))["revenue_cents"]
    reference = uuid.uuid4()
    await _credit(ledger, reference, 800)
    first, second = await _reverse(ledger, reference), await _reverse(ledger, reference)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"reference": str(reference), "status": "reversed"}
    audit = await _audit(ledger)
    assert audit["revenue_cents"] == before
    assert audit["sales"][str(reference)]["status"] == "reversed"
    late = await _credit(ledger, reference, 800)
    assert late.status_code == 409
    assert late.json()["type"] == "urn:bookstore:reference-voided"


async def test_a_reversal_before_its_sale_voids_the_reference(ledger):
    before = await _audit(ledger)
    reference = uuid.uuid4()
    voided = await _reverse(ledger, reference)
    assert voided.json() == {"reference": str(reference), "status": "voided"}
    late = await _credit(ledger, reference)
    assert late.status_code == 409
    assert late.json()["type"] == "urn:bookstore:reference-voided"
    assert (await _reverse(ledger, reference)).json()["status"] == "voided"
    audit = await _audit(ledger)
    assert audit["revenue_cents"] == before["revenue_cents"]
    assert audit["sales"][str(reference)] == {"reference": str(reference), "order_id": None,
                                              "amount_cents": 0, "status": "voided"}


async def test_a_sale_and_its_reversal_racing_net_to_zero(ledger):
    before = (await _audit(ledger))["revenue_cents"]
    references = [uuid.uuid4() for _ in range(8)]
    await asyncio.gather(*(call for reference in references for call in (
        _credit(ledger, reference, 100), _reverse(ledger, reference))))
    audit = await _audit(ledger)
    assert audit["revenue_cents"] == before
    assert {audit["sales"][str(r)]["status"] for r in references} <= {"reversed", "voided"}


async def test_bad_sales_are_refused_and_write_nothing(ledger):
    before = await _audit(ledger)
    for body in (_sale(uuid.uuid4(), 0), _sale(uuid.uuid4(), -100),
                 _sale(uuid.uuid4(), 100, order_id="x"), _sale(uuid.uuid4(), 100, extra=1),
                 {"reference": str(uuid.uuid4()), "amount_cents": 100}):
        assert (await ledger.post(SALES, json=body, headers=_key())).status_code == 422, body
    assert (await ledger.post(SALES, json=_sale(uuid.uuid4()))).status_code == 400
    assert await _audit(ledger) == before


async def test_the_summary_is_for_administrators(ledger):
    await _credit(ledger, uuid.uuid4())
    customer = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "customer"}
    assert (await ledger.get("/api/ledger/summary")).status_code == 401
    assert (await ledger.get("/api/ledger/summary", headers=customer)).status_code == 403
    summary = (await ledger.get("/api/ledger/summary", headers=ADMIN)).json()
    assert summary["revenue_cents"] == (await _audit(ledger))["revenue_cents"]
    assert summary["entries"] > 0
