"""Top-ups, balances and history: the only way money enters the store."""

import uuid

from sqlalchemy import text

TOPUPS = "/api/wallet/topups"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _audit(wallet) -> dict:
    return (await wallet.get("/internal/wallet/audit")).json()


async def test_a_customer_without_an_account_has_a_zero_balance(wallet, customer):
    headers = await customer()
    response = await wallet.get("/api/wallet", headers=headers)
    assert response.json() == {"user_id": headers["X-User-Id"], "balance_cents": 0}
    assert (await wallet.get("/api/wallet/transactions", headers=headers)).json() == []


async def test_the_first_top_up_opens_the_account_and_later_ones_add_to_it(wallet, customer):
    headers = await customer()
    first = await wallet.post(TOPUPS, json={"amount_cents": 1500}, headers={**headers, **_key()})
    second = await wallet.post(TOPUPS, json={"amount_cents": 500}, headers={**headers, **_key()})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["balance_cents"] == 1500
    assert second.json()["balance_cents"] == 2000
    assert uuid.UUID(second.json()["transaction_id"])
    assert (await wallet.get("/api/wallet", headers=headers)).json()["balance_cents"] == 2000


async def test_the_history_lists_the_newest_transaction_first(wallet, customer):
    headers = await customer(100)
    await wallet.post(TOPUPS, json={"amount_cents": 200}, headers={**headers, **_key()})
    history = (await wallet.get("/api/wallet/transactions", headers=headers)).json()
    assert [(t["kind"], t["amount_cents"]) for t in history] == [("topup", 200), ("topup", 100)]
    assert set(history[0]) == {"transaction_id", "kind", "amount_cents", "reference",
                               "created_at"}


async def test_a_repeated_top_up_returns_the_stored_answer_and_credits_once(wallet, customer):
    headers = {**(await customer()), **_key()}
    first = await wallet.post(TOPUPS, json={"amount_cents": 700}, headers=headers)
    again = await wallet.post(TOPUPS, json={"amount_cents": 700}, headers=headers)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await wallet.post(TOPUPS, json={"amount_cents": 900}, headers=headers)
    assert other.status_code == 422
    assert (await wallet.get("/api/wallet", headers=headers)).json()["balance_cents"] == 700


async def test_two_customers_may_use_the_same_key(wallet, customer):
    key = {"Idempotency-Key": "topup-1"}
    alice, bob = await customer(), await customer()
    await wallet.post(TOPUPS, json={"amount_cents": 300}, headers={**alice, **key})
    response = await wallet.post(TOPUPS, json={"amount_cents": 300}, headers={**bob, **key})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert (await wallet.get("/api/wallet", headers=bob)).json()["balance_cents"] == 300


async def test_bad_top_ups_are_refused_and_write_nothing(wallet, customer):
    headers = await customer()
    before = await _audit(wallet)
    for body in ({"amount_cents": 0}, {"amount_cents": -100}, {"amount_cents": 1_000_001},
                 {"amount_cents": 12.5}, {"amount_cents": "lots"}, {},
                 {"amount_cents": 100, "balance_cents": 1_000_000}):
        response = await wallet.post(TOPUPS, json=body, headers={**headers, **_key()})
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await wallet.post(TOPUPS, json={"amount_cents": 100}, headers=_key())).status_code \
        == 401
    assert (await wallet.post(TOPUPS, json={"amount_cents": 100},
                              headers=headers)).status_code == 400
    assert await _audit(wallet) == before


async def test_a_top_up_is_announced_through_the_outbox(wallet, customer):
    headers = await customer(250)
    async with wallet.app.state.runtime.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT payload FROM msa_outbox WHERE event_type = 'wallet.account.credited.v1' "
            "AND payload->>'user_id' = :user"), {"user": headers["X-User-Id"]})).all()
    assert len(rows) == 1
    assert rows[0].payload["amount_cents"] == 250
    assert rows[0].payload["balance_cents"] == 250
    assert rows[0].payload["kind"] == "topup"
