"""Catalog's composition root."""

from pathlib import Path

from msa.service import ServiceDefinition

from catalog import api, consumers, handlers

service = ServiceDefinition(
    "catalog",
    routers=[api.router, api.admin, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.rating_changed],
    on_startup=[handlers.load_seed],
)
create_app = service.create_app
