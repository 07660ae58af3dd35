"""Wallet's composition root."""

from pathlib import Path

from msa import ServiceDefinition
from wallet import api

service = ServiceDefinition(
    "wallet",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
)
create_app = service.create_app
