"""The service client: deadlines, typed errors, retries only where safe, replica failover."""

import asyncio

import pytest

from msa.client import RemoteProblem, ServiceClient, ServiceTimeout, ServiceUnavailable
from msa.system import Edge
from msa.tools.fake_transport import FakeTransport, answer
from msa.transport import ConnectFailed


def client_with(handler, urls=("http://a",), edge=Edge(timeout=1.0, retries=2)):
    return ServiceClient("caller", "callee", list(urls), edge=edge,
                         transport=FakeTransport(handler))


async def test_a_problem_answer_becomes_a_remote_problem_with_its_body():
    def handler(request):
        return answer(409, {"type": "urn:x:conflict", "title": "Conflict",
                                         "status": 409, "detail": "not enough"})

    client = client_with(handler)
    with pytest.raises(RemoteProblem) as caught:
        await client.post_json("/things", {"a": 1}, idempotency_key="k1")
    assert caught.value.status == 409
    assert caught.value.detail == "not enough"
    await client.aclose()


async def test_a_post_without_a_key_is_never_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return answer(503, {"title": "down"})

    client = client_with(handler)
    with pytest.raises(RemoteProblem):
        await client.request("POST", "/things", json={})
    assert len(calls) == 1
    await client.aclose()


async def test_an_idempotent_call_is_retried_and_carries_its_key():
    calls = []

    def handler(request):
        calls.append(request.headers.get("idempotency-key"))
        if len(calls) < 3:
            return answer(503, {"title": "down"})
        return answer(201, {"ok": True})

    client = client_with(handler)
    assert await client.post_json("/things", {}, idempotency_key="saga:step") == {"ok": True}
    assert calls == ["saga:step"] * 3
    await client.aclose()


async def test_a_refused_connection_tries_the_next_replica():
    seen = []

    def handler(request):
        seen.append(request.host)
        if request.host == "down":
            raise ConnectFailed("refused")
        return answer(200, {"host": request.host})

    client = client_with(handler, urls=("http://down", "http://up"))
    assert (await client.get_json("/x"))["host"] == "up"
    await client.aclose()


async def test_nobody_answering_is_unavailable():
    def handler(request):
        raise ConnectFailed("refused")

    client = client_with(handler, edge=Edge(timeout=0.5, retries=1))
    with pytest.raises(ServiceUnavailable):
        await client.get_json("/x")
    await client.aclose()


async def test_a_slow_answer_past_the_deadline_is_a_timeout():
    async def handler(request):
        await asyncio.sleep(2)
        return answer(200)

    client = client_with(handler, edge=Edge(timeout=0.2, retries=0))
    with pytest.raises(ServiceTimeout):
        await client.get_json("/slow")
    await client.aclose()


async def test_a_proxy_gets_error_answers_back_as_they_are():
    def handler(request):
        return answer(404, {"title": "Not found"})

    client = client_with(handler)
    response = await client.request("GET", "/missing", passthrough=True)
    assert response.status_code == 404
    await client.aclose()
