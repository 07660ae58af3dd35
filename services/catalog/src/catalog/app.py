"""Catalog's composition root."""

from pathlib import Path

from catalog import api, consumers, handlers
from msa import ServiceDefinition

service = ServiceDefinition(
    "catalog",
    routers=[api.router, api.admin, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.rating_changed],
    on_startup=[handlers.load_seed],
)
create_app = service.create_app
