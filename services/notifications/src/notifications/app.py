"""Notifications' composition root."""

from pathlib import Path

from msa import ServiceDefinition
from notifications import api, consumers

service = ServiceDefinition(
    "notifications",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.order_confirmed, consumers.order_cancelled],
)
create_app = service.create_app
