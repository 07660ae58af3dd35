"""The console's pages: overview and map, sagas, messaging, traces, checks.

Every page first asks the identity service (through the public API, with the
visitor's own token) who the visitor is: only an administrator gets past
`_operator`. What the console then reads or does, it does as the operator.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nats.errors import Error as NatsError

from msa import MsaError, list_dead_letters, replay_dead_letters, stream_reports
from storefront.console import service_map, traces
from storefront.console.operator import OperatorView, view_of
from storefront.web import SameOrigin, Visit, VisitDep

router = APIRouter(prefix="/console")
STATES = ("running", "compensating", "completed", "compensated", "failed", "active")


async def _operator(visit: Visit) -> OperatorView | Response:
    """The operator's view for an administrator; a refusal page for anyone else."""
    if not visit.signed_in:
        return visit.sign_in_first()
    me = await visit.api.get("/api/identity/me")
    if not me.ok or me.body.get("role") != "admin":
        return visit.render("problem.html", status=403,
                            what="The operations console is for administrators",
                            detail="Your account is a customer account: it cannot see or "
                                   "change how the system runs. Ask an administrator.")
    view = view_of(visit.request.app.state.runtime)
    if view.problem:
        return visit.render("problem.html", status=503, what="The console cannot read the "
                            "system", detail=view.problem)
    return view


@router.get("", response_class=HTMLResponse)
async def overview(visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    health = await view.health()
    now = await view.scrape()
    red, span = view.red(now)
    state = view.runner_state()
    restarts: dict[str, int] = {}
    for instance in state.instances if state else []:
        restarts[instance.service] = restarts.get(instance.service, 0) + instance.restarts
    try:
        streams = await stream_reports(view.nats_url)
    except (OSError, TimeoutError, NatsError):  # NATS down: the map still shows the calls
        streams = []
    delivered = {(c.service, s.name): c.delivered for s in streams for c in s.consumers}
    nodes, edges, height = service_map.layout(view.system)
    then = view.history[0] if len(view.history) > 1 else None
    live = {}
    for edge in edges:
        if edge.kind == "call":
            total = now.calls.get((edge.source, edge.target), 0)
            before = then.calls.get((edge.source, edge.target), 0) if then else 0
            live[(edge.source, edge.target, edge.label)] = (total, total - before)
        else:
            stream = next((s.name for s in streams if any(
                subject.split(".")[0] == edge.source for subject in s.subjects)), "")
            total = delivered.get((edge.target, stream), 0)
            live[(edge.source, edge.target, edge.label)] = (total, 0)
    return visit.render("console_overview.html", nodes=nodes, edges=edges, height=height,
                        width=service_map.WIDTH, node_w=service_map.NODE_W,
                        node_h=service_map.NODE_H, live=live, health=health, red=red,
                        span=span, restarts=restarts, mode=state.mode if state else "unknown",
                        system=view.system)


@router.get("/sagas", response_class=HTMLResponse)
async def sagas(visit: VisitDep, state: Annotated[str | None, Query(max_length=20)] = None,
                age: Annotated[str | None, Query(max_length=12)] = None,
                step: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    errors: dict[str, str] = {}
    if state and state not in STATES:
        errors["state"] = f"Choose one of: {', '.join(STATES)}."
    seconds = 0.0
    if age:
        try:
            seconds = float(age)
            if not 0 <= seconds <= 10 ** 9:
                raise ValueError
        except ValueError:
            errors["age"] = "Type a number of seconds, such as 60."
    if step and (not step.isdigit()):
        errors["step"] = "Type a step number, such as 2."
    found: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    if not errors:
        for service in await view.saga_services():
            params: dict[str, Any] = {"limit": 200, "older_than": seconds}
            if state:
                params["status"] = state
            answer = await view.call(service, "GET", "/internal/sagas", **params)
            counts[service] = answer["counts"]
            found += [{**item, "service": service} for item in answer["items"]
                      if not step or str(item["step"]) == step]
    return visit.render("console_sagas.html", status=422 if errors else 200, sagas=found,
                        counts=counts, errors=errors, states=STATES,
                        values={"state": state or "", "age": age or "", "step": step or ""})


@router.get("/sagas/{service}/{saga_id}", response_class=HTMLResponse)
async def saga(service: str, saga_id: uuid.UUID, visit: VisitDep,
               done: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    if service not in await view.saga_services():
        return visit.render("problem.html", status=404, what="No such saga",
                            detail=f"{service} runs no sagas.")
    try:
        found = await view.call(service, "GET", f"/internal/sagas/{saga_id}")
    except MsaError as exc:
        return visit.render("problem.html", status=404, what="No such saga", detail=str(exc))
    spans = await view.spans()
    trace_ids = traces.traces_of_saga(spans, str(saga_id))
    return visit.render("console_saga.html", saga=found, service=service, trace_ids=trace_ids,
                        done=done)


@router.post("/sagas/{service}/{saga_id}/{action}", dependencies=[SameOrigin])
async def saga_action(service: str, saga_id: uuid.UUID, action: str,
                      visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    if action not in ("retry", "compensate") or service not in await view.saga_services():
        return visit.render("problem.html", status=404, what="No such action",
                            detail=f"{action} is not something a saga can do.")
    try:
        await view.call(service, "POST", f"/internal/sagas/{saga_id}/{action}")
    except MsaError as exc:
        return visit.render("problem.html", status=409, what=f"The saga cannot {action}",
                            detail=str(exc))
    return RedirectResponse(f"/console/sagas/{service}/{saga_id}?done={action}",
                            status_code=303)


@router.get("/messaging", response_class=HTMLResponse)
async def messaging(visit: VisitDep,
                    replayed: Annotated[int | None, Query(ge=0)] = None) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    streams = await stream_reports(view.nats_url)
    letters = await list_dead_letters(view.nats_url)
    return visit.render("console_messaging.html", streams=streams, letters=letters,
                        replayed=replayed)


@router.post("/dead-letters/{seq}/replay", dependencies=[SameOrigin])
async def replay(seq: int, visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    count = await replay_dead_letters(view.nats_url, [seq])
    if not count:
        return visit.render("problem.html", status=404, what="No such dead letter",
                            detail=f"Dead letter {seq} is not there (replayed already?).")
    return RedirectResponse(f"/console/messaging?replayed={seq}", status_code=303)


@router.get("/traces", response_class=HTMLResponse)
async def recent_traces(visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    return visit.render("console_traces.html", traces=traces.summaries(await view.spans()),
                        now=time.time())


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
async def trace(trace_id: str, visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        return visit.render("problem.html", status=404, what="No such trace",
                            detail="A trace id is 32 hexadecimal digits.")
    bars, total, height = traces.waterfall(await view.spans(trace_id))
    if not bars:
        return visit.render("problem.html", status=404, what="No such trace",
                            detail="No service still holds spans of this trace.")
    return visit.render("console_trace.html", trace_id=trace_id, bars=bars, total=total,
                        height=height, width=traces.WIDTH, label=traces.LABEL)


@router.get("/checks", response_class=HTMLResponse)
async def checks(visit: VisitDep) -> Response:
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    return visit.render("console_checks.html")


@router.get("/checks/result", response_class=HTMLResponse)
async def check_result(visit: VisitDep) -> Response:
    """The checks run now (the page loads this and refreshes it)."""
    view = await _operator(visit)
    if isinstance(view, Response):
        return view
    try:
        results, failure = await view.checks(), ""
    except MsaError as exc:
        results, failure = [], str(exc)
    return visit.render("console_check_result.html", results=results, failure=failure,
                        at=time.strftime("%H:%M:%S"))
