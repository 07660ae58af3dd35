"""Traces across services in one process: server, client and database spans; deadlines; logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from opentelemetry.trace import StatusCode
from sqlalchemy import text

from msa import tracing
from msa.deadline import DEADLINE_HEADER
from msa.logs import JsonFormatter
from msa.runtime import Colocation, Runtime, get_runtime
from msa.service import ServiceDefinition
from msa.settings import ServiceSettings
from msa.system import parse_system
from msa.tools.apptest import run_app
from msa.transport import OutgoingRequest

SYSTEM = parse_system("""
[system]
name = "tracedemo"
gateway = "front"
[teams.t]
[services.front]
team = "t"
app = "x:y"
port = 20100
database = false
calls = ["back", "store"]
[services.front.edges.back]
paths = ["/internal/back/"]
[services.front.edges.store]
paths = ["/internal/store/"]
[services.back]
team = "t"
app = "x:y"
port = 20101
database = false
[services.store]
team = "t"
app = "x:y"
port = 20102
""")

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
front_api = APIRouter()
back_api = APIRouter()
store_api = APIRouter()
budgets: list[int] = []
_log = logging.getLogger("tracedemo")
_log.setLevel(logging.INFO)


@front_api.get("/api/front/hello")
async def front_hello(rt: RuntimeDep) -> dict[str, Any]:
    return {"back": await rt.client("back").get_json("/internal/back/hello",
                                                     headers={"X-User-Id": "u-42"})}


@front_api.get("/api/front/ping")
async def front_ping() -> dict[str, Any]:
    return {"ok": True}


@front_api.get("/api/front/stored")
async def front_stored(rt: RuntimeDep) -> dict[str, Any]:
    return await rt.client("store").get_json("/internal/store/now")


@back_api.get("/internal/back/hello")
async def back_hello(request: Request) -> dict[str, Any]:
    budgets.append(int(request.headers.get(DEADLINE_HEADER, "-1")))
    _log.info("hello from back")
    return {"ok": True}


@store_api.get("/internal/store/now")
async def store_now(rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        value = (await conn.execute(text("SELECT 41 + 1"))).scalar()
        await conn.execute(text("SELECT 1"))
    return {"value": value}


FRONT = ServiceDefinition("front", routers=[front_api], public=True)
BACK = ServiceDefinition("back", routers=[back_api])
STORE = ServiceDefinition("store", routers=[store_api])


@contextlib.asynccontextmanager
async def running(traced: bool = True, database_url: str | None = None
                  ) -> AsyncIterator[httpx.AsyncClient]:
    """front → back (and store, given a database) in one process; a client of front."""
    colocation = Colocation()

    def settings(name: str, **extra: Any) -> ServiceSettings:
        return ServiceSettings(service=name, instance=f"{name}-t", env="test", tracing=traced,
                               **extra)

    definitions = [(BACK, {}), (FRONT, {})]
    if database_url:
        definitions.insert(0, (STORE, {"database_url": database_url}))
    async with contextlib.AsyncExitStack() as stack:
        for definition, extra in definitions:
            app = definition.create_app(settings(definition.name, **extra), system=SYSTEM,
                                        colocation=colocation)
            colocation.apps[definition.name] = app
            if definition is not FRONT:
                await stack.enter_async_context(app.router.lifespan_context(app))
        async with run_app(colocation.apps["front"], base_url="http://front") as client:
            yield client


def spans_of(trace_id: str) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in tracing.finished_spans(trace_id=trace_id)}


async def test_a_call_from_service_to_service_is_one_trace_of_server_and_client_spans():
    async with running() as front:
        response = await front.get("/api/front/hello")
    assert response.status_code == 200
    server = next(s for s in tracing.finished_spans("front")
                  if s["attributes"].get("msa.request_id") == response.headers["x-request-id"])
    spans = spans_of(server["trace_id"])
    call, remote = spans["GET back"], spans["GET /internal/back/hello"]
    assert server["name"] == "GET /api/front/hello" and server["kind"] == "server"
    assert call["parent_span_id"] == server["span_id"] and call["service"] == "front"
    assert remote["parent_span_id"] == call["span_id"] and remote["service"] == "back"
    assert remote["attributes"]["http.response.status_code"] == 200


async def test_an_incoming_traceparent_is_continued():
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with running() as front:
        await front.get("/api/front/ping",
                        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        served = await front.get("/internal/traces", params={"trace_id": trace_id})
    [span] = served.json()["spans"]
    assert span["parent_span_id"] == "00f067aa0ba902b7"
    assert span["name"] == "GET /api/front/ping"


async def test_a_transaction_is_one_database_span_under_the_request(msa_postgres):
    async with running(database_url=msa_postgres.create_database()) as front:
        response = await front.get("/api/front/stored")
    assert response.json() == {"value": 42}
    server = next(s for s in tracing.finished_spans("store")
                  if s["name"] == "GET /internal/store/now")
    [transaction] = [s for s in tracing.finished_spans("store", server["trace_id"])
                     if s["kind"] == "client"]
    assert transaction["parent_span_id"] == server["span_id"]
    assert transaction["attributes"]["db.statement"] == "SELECT 41 + 1"
    assert transaction["attributes"]["db.statements"] == 2  # and the second query
    assert transaction["attributes"]["db.operation"] == "ROLLBACK"  # a read, never committed


async def test_a_connection_lost_inside_a_traced_transaction_keeps_its_own_error(msa_postgres):
    """The backend dies mid-transaction (as when the database restarts or its link is
    cut): the transaction's span ends as a rollback, and what reaches the request is
    the lost connection's error (a 503: try again), not SQLAlchemy's PendingRollbackError
    from a span bookkeeping read of the lost connection (which was a 500)."""
    import asyncpg
    from sqlalchemy.exc import PendingRollbackError

    from msa.db import create_engine, database_unreachable
    from msa.sqltrace import instrument_engine

    url = msa_postgres.create_database()
    tracing.setup("lost-demo")
    engine = create_engine(url, pool_size=1)
    instrument_engine(engine, "lost-demo")
    killer = await asyncpg.connect(url)
    caught: BaseException | None = None
    try:
        with tracing.span("lost-demo", "request"):
            try:
                async with engine.begin() as conn:
                    backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
                    await killer.execute("SELECT pg_terminate_backend($1)", backend)
                    await conn.execute(text("SELECT 1"))
            except Exception as exc:
                caught = exc
        assert caught is not None and not isinstance(caught, PendingRollbackError), caught
        assert database_unreachable(caught)
        [transaction] = [s for s in tracing.finished_spans("lost-demo")
                         if s["kind"] == "client"]
        assert transaction["attributes"]["db.operation"] == "ROLLBACK"
        assert transaction["status"] == "error"
        async with engine.connect() as conn:  # the pool serves again
            assert (await conn.execute(text("SELECT 2"))).scalar() == 2
    finally:
        await killer.close()
        await engine.dispose()


async def test_the_callee_gets_the_deadline_and_refuses_an_expired_one():
    budgets.clear()
    async with running() as front:
        await front.get("/api/front/hello", headers={DEADLINE_HEADER: "300"})
        back = front.app.state.runtime.client("back")  # type: ignore[attr-defined]
        sent = OutgoingRequest("GET", "/internal/back/hello",  # past the client's own check
                               {**back._auth.headers(), DEADLINE_HEADER.lower(): "0"}, b"")
        expired = await back._transport.send(back._bases[0], sent)
    assert 0 < budgets[0] <= 300
    assert expired.status_code == 504
    assert expired.headers["content-type"] == "application/problem+json"
    assert len(budgets) == 1  # the expired request did no work


async def test_logs_carry_the_trace_span_and_user_of_the_request(monkeypatch):
    monkeypatch.setattr("msa.logs._STATIC", {"instance": "back-0", "version": "1.2.3"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    _log.addHandler(handler)
    try:
        async with running() as front:
            await front.get("/api/front/hello")
    finally:
        _log.removeHandler(handler)
    record = json.loads(stream.getvalue().splitlines()[-1])
    served = spans_of(record["trace_id"])["GET /internal/back/hello"]
    assert record["span_id"] == served["span_id"]
    assert record["user"] == "u-42" and record["service"] == "back"
    assert record["request_id"]
    assert record["level"] == "info" and record["version"] == "1.2.3"
    assert datetime.fromisoformat(record["ts"]).tzinfo is not None


def _trace(on: bool) -> None:
    for name in ("front", "back"):
        tracing.setup(name, enabled=on)


async def test_tracing_costs_little_per_request(capsys):
    """1000 in-process requests with and without tracing, in alternating batches of 100,
    timed in CPU seconds of this process (other load on the machine does not count)."""
    results = {}
    async with running() as front:
        for path in ("/api/front/ping", "/api/front/hello"):
            spent = {True: 0.0, False: 0.0}
            for _ in range(20):
                await front.get(path)  # warm up
            for batch in range(20):
                traced = batch % 2 == 0
                _trace(traced)
                started = time.process_time()
                for _ in range(100):
                    await front.get(path)
                spent[traced] += time.process_time() - started
            results[path] = (spent[False] / 1000, spent[True] / 1000)
    _trace(True)
    with capsys.disabled():
        for path, (plain, traced) in results.items():
            print(f"\n{path}: {plain * 1e6:.0f} µs CPU untraced, {traced * 1e6:.0f} µs traced, "
                  f"+{(traced - plain) * 1e6:.0f} µs ({(traced / plain - 1) * 100:.0f} %)")
    for plain, traced in results.values():
        assert traced - plain < 0.001  # under a millisecond even for three spans on a busy machine


def test_spans_are_exported_to_an_otlp_http_collector():
    """A real OTLP/HTTP receiver (stdlib HTTP server) gets the protobuf batch."""
    import http.server
    import threading

    received: list[tuple[str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        service = f"otlp-demo-{uuid.uuid4().hex[:6]}"
        tracing.setup(service, otlp_endpoint=f"http://127.0.0.1:{server.server_port}")
        with tracing.span(service, "exported-span"):
            pass
        assert tracing.flush(service, 10_000)
        assert [path for path, _ in received] == ["/v1/traces"]
        assert b"exported-span" in received[0][1] and service.encode() in received[0][1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_sampling_decides_where_a_trace_starts_and_the_rest_follows():
    tracing.setup("unsampled-svc", sample_ratio=0.0)
    tracer = tracing.tracer_for("unsampled-svc")
    assert tracer is not None
    with tracer.start_as_current_span("a request without a traceparent") as root:
        assert not root.is_recording()
    sampled_parent = tracing.context_from(
        {"traceparent": "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    with tracer.start_as_current_span("a request whose caller records", context=sampled_parent
                                      ) as child:
        assert child.is_recording()
    names = {s["name"] for s in tracing.finished_spans("unsampled-svc")}
    assert names == {"a request whose caller records"}


def test_a_span_records_what_went_wrong_and_nothing_after_it_ends():
    service = f"errors-{uuid.uuid4().hex[:6]}"
    tracing.setup(service)
    try:
        with tracing.span(service, "failing step", attributes={"step": 1}) as failing:
            raise ValueError("no such book")
    except ValueError:
        pass
    assert failing is not None and not failing.is_recording()
    failing.set_attribute("late", True)  # ended: ignored, as the SDK does
    failing.update_name("renamed")
    (found,) = tracing.finished_spans(service)
    assert found["name"] == "failing step" and found["status"] == "error"
    assert found["attributes"] == {"step": 1}
    recorded = tracing._ring[-1]
    (event,) = recorded.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "no such book"
    assert recorded.status.description == "ValueError: no such book"
    exported = recorded.readable()  # what an OTLP exporter is given
    assert exported.name == "failing step" and exported.attributes == {"step": 1}
    assert exported.resource.attributes["service.name"] == service
    assert exported.parent is None and exported.context == recorded.context


def test_a_status_set_ok_stays_ok():
    service = f"ok-{uuid.uuid4().hex[:6]}"
    tracing.setup(service)
    with tracing.span(service, "settled") as current:
        assert current is not None
        current.set_status(StatusCode.OK)
        current.set_status(StatusCode.ERROR, "too late")
    assert tracing.finished_spans(service)[0]["status"] == "ok"
    assert tracing._ring[-1].status.status_code is StatusCode.OK
