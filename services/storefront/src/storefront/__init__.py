"""The bookstore's web pages: the storefront, its admin pages and the operations console.

Server-rendered (Jinja2) with a little HTMX (vendored, served from `/static`). The
pages hold no business data and no authority of their own: they call the public API
through the gateway exactly as a customer's client would, with the customer's
access token kept in an HttpOnly cookie, so the services still decide who may do what.
The gateway mounts them (`storefront.mount`).
"""

from storefront.web import mount

__all__ = ["mount"]
