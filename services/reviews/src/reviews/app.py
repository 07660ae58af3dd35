"""Reviews' composition root."""

from pathlib import Path

from msa import ServiceDefinition
from reviews import api, consumers

service = ServiceDefinition(
    "reviews",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.order_confirmed],
)
create_app = service.create_app
