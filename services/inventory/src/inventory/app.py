"""Inventory's composition root."""

from pathlib import Path

from inventory import api, consumers, handlers
from msa import ServiceDefinition

service = ServiceDefinition(
    "inventory",
    routers=[api.router, api.admin, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.book_created],
    background=[handlers.expire_reservations],
)
create_app = service.create_app
