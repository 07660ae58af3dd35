"""The transports under the service client: pooled HTTP/1.1 and the direct in-process call."""

import asyncio
import contextlib

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from msa.transport import ConnectFailed, ConnectionBroken, OutgoingRequest
from msa.transport.http import HttpTransport
from msa.transport.inprocess import InProcessTransport


async def echo(request: Request) -> Response:
    return JSONResponse({"method": request.method, "path": request.url.path,
                         "query": request.url.query, "body": (await request.body()).decode(),
                         "token": request.headers.get("x-token"),
                         "peer": request.client.port if request.client else None})


async def streamed(request: Request) -> Response:
    async def parts():
        for part in (b"one ", b"two ", b"three"):
            yield part
    return StreamingResponse(parts(), media_type="text/plain")  # chunked on the wire


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug in the callee")


APP = Starlette(routes=[
    Route("/echo/{rest:path}", echo, methods=["GET", "POST", "HEAD"]),
    Route("/streamed", streamed),
    Route("/broken", broken),
    Route("/plain", lambda request: PlainTextResponse("hi", headers={"Set-Thing": "a"})),
])


@contextlib.asynccontextmanager
async def served(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                                           http="httptools", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def post(target, body=b"", **headers):
    return OutgoingRequest("POST", target, {"content-type": "text/plain", **headers}, body)


async def test_requests_reuse_one_kept_alive_connection_and_bodies_arrive_whole():
    transport = HttpTransport()
    async with served(APP) as base:
        first = await transport.send(base, post("/echo/a%20b?x=1&y=%C3%A9", b"hello", **{
            "x-token": "t"}))
        second = await transport.send(base, post("/echo/again", b"x" * 200_000))
        streamed_answer = await transport.send(base, OutgoingRequest("GET", "/streamed", {},
                                                                      b""))
        await transport.aclose()
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    assert first.json() == {"method": "POST", "path": "/echo/a b", "query": "x=1&y=%C3%A9",
                            "body": "hello", "token": "t", "peer": first.json()["peer"]}
    assert len(second.json()["body"]) == 200_000
    assert second.json()["peer"] == first.json()["peer"]  # the same connection
    assert streamed_answer.text == "one two three"


async def test_a_head_answer_ends_without_a_body():
    transport = HttpTransport()
    async with served(APP) as base:
        answer = await transport.send(base, OutgoingRequest("HEAD", "/echo/x", {}, b""))
        after = await transport.send(base, post("/echo/y", b"z"))
        await transport.aclose()
    assert answer.status_code == 200 and answer.content == b""
    assert after.json()["body"] == "z"


async def test_a_refused_connection_is_connect_failed():
    transport = HttpTransport()
    async with served(APP) as base:
        pass  # the server has stopped: its port refuses connections now
    with pytest.raises(ConnectFailed):
        await transport.send(base, post("/echo/x"))


async def test_a_connection_closed_before_the_answer_ended_is_broken():
    async def half_answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = HttpTransport()
    with pytest.raises(ConnectionBroken):
        await transport.send(f"http://127.0.0.1:{port}", post("/x"))
    server.close()
    await server.wait_closed()


async def test_a_line_break_in_a_header_or_a_space_in_the_path_is_refused_before_sending():
    transport = HttpTransport()
    with pytest.raises(ValueError, match="line break"):
        await transport.send("http://127.0.0.1:9", post("/x", **{"x-a": "1\r\nx-b: 2"}))
    with pytest.raises(ValueError, match="percent-encoded"):
        await transport.send("http://127.0.0.1:9", post("/x y"))


async def test_an_in_process_call_goes_through_the_app_like_a_network_call():
    transport = InProcessTransport(APP, "callee")
    answer = await transport.send("http://callee", post("/echo/a%20b?x=1", b"hi",
                                                        **{"x-token": "t"}))
    assert answer.json() == {"method": "POST", "path": "/echo/a b", "query": "x=1",
                             "body": "hi", "token": "t", "peer": 0}
    plain = await transport.send("http://callee", OutgoingRequest("GET", "/plain", {}, b""))
    assert plain.text == "hi" and plain.headers["set-thing"] == "a"
    streamed_answer = await transport.send("http://callee",
                                           OutgoingRequest("GET", "/streamed", {}, b""))
    assert streamed_answer.text == "one two three"


async def test_a_callee_failing_in_process_answers_500_to_the_caller():
    transport = InProcessTransport(APP, "callee")
    answer = await transport.send("http://callee", OutgoingRequest("GET", "/broken", {}, b""))
    assert answer.status_code == 500


async def test_an_idle_connection_its_server_closed_is_not_reused():
    served_on: list[int] = []

    async def one_answer_then_close(reader, writer):
        served_on.append(writer.get_extra_info("peername")[1])
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # after answering, as if its keep-alive time had run out

    server = await asyncio.start_server(one_answer_then_close, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    transport = HttpTransport()
    first = await transport.send(base, post("/x"))
    second = await transport.send(base, post("/x"))
    await transport.aclose()
    server.close()
    await server.wait_closed()
    assert first.text == second.text == "ok"
    assert len(set(served_on)) == 2  # the second request went on a new connection
