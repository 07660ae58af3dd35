"""Ledger's composition root."""

from pathlib import Path

from ledger import api
from msa import ServiceDefinition

service = ServiceDefinition(
    "ledger",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
)
create_app = service.create_app
