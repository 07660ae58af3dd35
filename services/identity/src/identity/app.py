"""Identity's composition root."""

from pathlib import Path

from identity import api, handlers
from msa import ServiceDefinition

service = ServiceDefinition(
    "identity",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
    on_startup=[handlers.load_signing_keys],
)
create_app = service.create_app
