"""Orders' composition root: the cart, the orders and the checkout saga."""

from pathlib import Path

from msa.service import ServiceDefinition
from orders import api
from orders.saga import CHECKOUT

service = ServiceDefinition(
    "orders",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
    sagas=[CHECKOUT],
)
create_app = service.create_app
