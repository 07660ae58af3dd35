"""Orders' composition root: the cart, the orders and the checkout saga."""

from pathlib import Path

from msa import ServiceDefinition
from orders import api, consumers
from orders.saga import CHECKOUT

service = ServiceDefinition(
    "orders",
    routers=[api.router, api.internal],
    migrations=Path(__file__).parent / "migrations",
    consumers=[consumers.book_created, consumers.book_updated],
    sagas=[CHECKOUT],
)
create_app = service.create_app
