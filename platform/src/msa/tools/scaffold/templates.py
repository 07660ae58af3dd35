"""The files of a new service, as text: a working service that uses only `from msa import`.

Every function takes the `Blueprint` and returns one file's text. The layout is the
house layout (app, api, handlers, domain, adapters, contracts, consumers, migrations,
tests/unit, tests/integration); a service without a database gets only what it can run.
"""

from __future__ import annotations

from msa.tools.scaffold.blueprint import Blueprint


def pyproject(bp: Blueprint) -> str:
    deps = ", ".join(f'"{dep}"' for dep in ["msa", *bp.contract_packages])
    sources = "".join(f"{dep} = {{ workspace = true }}\n"
                      for dep in ["msa", *bp.contract_packages])
    return f"""[project]
name = "{bp.name}"
version = "0.1.0"
description = "{bp.description}"
requires-python = ">=3.11"
dependencies = [{deps}]

[tool.uv.sources]
{sources}
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{bp.name}"]
"""


def readme(bp: Blueprint) -> str:
    api = (f"- `POST /api/{bp.name}/items` (`Idempotency-Key` required): create an item "
           f"`{{\"name\": \"...\"}}`; 201 with `{{\"id\", \"name\"}}`\n"
           f"- `GET /api/{bp.name}/items/{{id}}`: one item, or a 404 problem\n"
           f"- `GET /internal/{bp.name}/audit`: how many items there are (for checkers)\n"
           if bp.database else
           f"- `GET /api/{bp.name}/hello`: who answers\n")
    published = "".join(f"- publishes `{event}`\n" for event in bp.publishes)
    consumed = "".join(f"- consumes `{event}` (from {bp.publisher_of[event]})\n"
                       for event in bp.consumes)
    calls = "".join(f"- calls {callee}\n" for callee in bp.calls)
    none = "- none yet\n"
    return f"""# {bp.name}

Owner: team **{bp.team}** ({bp.team_handle}).

{bp.description}. Scaffolded by `msa new service`; replace the example item with the
service's own model.

## API
{api}
## Events and calls
{published + consumed + calls or none}
## Settings
The platform's: `MSA_DATABASE_URL`, `MSA_NATS_URL`, `MSA_PORT` and the rest of
`msa.ServiceSettings`, set by the runner (`msa up`) or the deployment.

## Tests
```sh
.venv/bin/pytest -q services/{bp.name}
```
"""


def app(bp: Blueprint) -> str:
    lines = [f'"""{bp.title}\'s composition root: the service built from its parts."""', ""]
    if bp.database:
        lines += ["from pathlib import Path", ""]
    lines += sorted(["from msa import ServiceDefinition",
                     f"from {bp.name} import api" + (", consumers" if bp.consumes else "")])
    lines += [""]
    lines += ["service = ServiceDefinition(", f'    "{bp.name}",',
              "    routers=[api.router, api.internal],"]
    if bp.database:
        lines += ['    migrations=Path(__file__).parent / "migrations",']
    if bp.consumes:
        handlers = ", ".join(f"consumers.{fn}" for fn in bp.consumer_functions.values())
        lines += [f"    consumers=[{handlers}],"]
    lines += [")", 'create_app = service.create_app  # system.toml: app = '
              f'"{bp.name}.app:create_app"', ""]
    return "\n".join(lines)


def api(bp: Blueprint) -> str:
    if not bp.database:
        return f'''"""{bp.title}'s HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/api/{bp.name}", tags=["{bp.name}"])
internal = APIRouter(prefix="/internal/{bp.name}", tags=["internal"])


class Hello(BaseModel):
    service: str
    message: str


@router.get("/hello", response_model=Hello)
async def hello() -> dict[str, str]:
    """Who answers: the smallest route that proves the way in works."""
    return {{"service": "{bp.name}", "message": "hello"}}
'''
    return f'''"""{bp.title}'s HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

{first_party("from msa import IdempotencyKey, Runtime, get_runtime, run_idempotent, snapshot",
             f"from {bp.name} import adapters, domain, handlers")}

router = APIRouter(prefix="/api/{bp.name}", tags=["{bp.name}"])
internal = APIRouter(prefix="/internal/{bp.name}", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=domain.MAX_NAME_LENGTH)


class Item(BaseModel):
    id: uuid.UUID
    name: str


@router.post("/items", status_code=201, response_model=Item)
async def create_item(body: NewItem, request: Request, key: IdempotencyKey,
                      rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.create_item(conn, body.name), status=201)


@router.get("/items/{{item_id}}", response_model=Item)
async def get_item(item_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        return await handlers.item(conn, item_id)


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    """What the checkers read (they never read this service's database)."""
    async with snapshot(rt.db) as conn:
        return {{"items": await adapters.count_items(conn)}}
'''


def domain(bp: Blueprint) -> str:
    return f'''"""{bp.title}'s domain: pure rules, no framework and no SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

MAX_NAME_LENGTH = 200


class InvalidName(ValueError):
    """A name that is blank or too long."""


@dataclass(frozen=True)
class Item:
    """The example thing {bp.name} keeps; replace it with the service's own model."""

    id: uuid.UUID
    name: str


def new_item(name: str) -> Item:
    """A new item named `name` (spaces around it dropped)."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidName(f"a name has 1 to {{MAX_NAME_LENGTH}} characters besides spaces")
    return Item(id=uuid.uuid4(), name=cleaned)
'''


def contracts(bp: Blueprint) -> str:
    classes = "".join(f'''

class {cls}(Event):
    """Published when {event.split(".")[1]} is {event.split(".")[2]}."""

    type = "{event}"
    id: uuid.UUID
    name: str

    def aggregate(self) -> str:
        return f"{event.split(".")[1]}:{{self.id}}"
''' for event, cls in bp.event_classes.items())
    return f'''"""{bp.title}'s published contract: the events it emits."""

from __future__ import annotations

import uuid

from msa import Event
{classes}'''


def handlers(bp: Blueprint) -> str:
    first = next(iter(bp.event_classes.items()), None)
    imports = ["from msa import NotFound, Unprocessable" + (", emit" if first else "")]
    imports.append(f"from {bp.name} import adapters, domain")
    if first:
        imports.append(f"from {bp.name}.contracts import {first[1]}")
    emit_line = (f"\n    await emit(conn, {first[1]}(id=item.id, name=item.name))"
                 if first else "")
    received = '''


async def event_received(conn: AsyncConnection, event_id: uuid.UUID, event_type: str) -> None:
    """Record an event from another service (the inbox makes this happen once per event)."""
    await adapters.record_event(conn, event_id, event_type)
''' if bp.consumes else "\n"
    return f'''"""{bp.title}'s use cases: change state and record events in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

{first_party(*imports)}


async def create_item(conn: AsyncConnection, name: str) -> dict[str, Any]:
    try:
        item = domain.new_item(name)
    except domain.InvalidName as exc:
        raise Unprocessable(str(exc)) from None
    await adapters.insert_item(conn, item){emit_line}
    return {{"id": item.id, "name": item.name}}


async def item(conn: AsyncConnection, item_id: uuid.UUID) -> dict[str, Any]:
    found = await adapters.get_item(conn, item_id)
    if found is None:
        raise NotFound(f"no item {{item_id}}")
    return found{received}'''


def consumers(bp: Blueprint) -> str:
    imports = sorted(f"from {bp.package_of[event]}.contracts import {bp.consumed_classes[event]}"
                     for event in bp.consumes)
    functions = "".join(f'''

@subscribe({bp.consumed_classes[event]}.type)
async def {fn}(delivery: Delivery, event: Any) -> None:
    received = {bp.consumed_classes[event]}.model_validate(event)  # what the contract refuses
    await handlers.event_received(delivery.conn, delivery.event_id, received.type)
''' for event, fn in bp.consumer_functions.items())
    own_imports = first_party("from msa import Delivery, subscribe",
                              f"from {bp.name} import handlers", *imports)
    return f'''"""{bp.title} learns about other services from their published events only."""

from __future__ import annotations

from typing import Any

{own_imports}
{functions}'''


def first_party(*imports: str) -> str:
    """Import lines of the workspace's packages (msa among them), in the order ruff's
    isort keeps them: by module name."""
    return "\n".join(sorted(imports))
