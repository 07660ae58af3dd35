"""Reviews' composition root."""

from pathlib import Path

from msa import ServiceDefinition
from reviews import api

service = ServiceDefinition(
    "reviews",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
)
create_app = service.create_app
