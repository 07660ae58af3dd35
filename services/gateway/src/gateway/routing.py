"""Which service answers a public path, and the exact path it is sent on to.

A path is routed only if nothing downstream could read it as another one: no `.`
or `..` segment (raw or percent-encoded, in any case, however often encoded), no
encoded `/` or `\\`, no backslash, no empty segment. Otherwise a client library or
server could collapse `/api/wallet/%2e%2e/%2e%2e/internal/...` into an internal
route. The path forwarded is the one checked, as the client encoded it, and it
must still lie below the prefix that chose the service, never under `/internal/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from msa import System

_DECODE_ROUNDS = 4  # `%25252e` is still a dot to something that decodes three times


@dataclass(frozen=True)
class Target:
    """Where a public request goes: the service, the prefix that chose it and the path
    to send (percent-encoded, as the client sent it)."""

    service: str
    prefix: str
    path: str

    def upstream_url(self, base: str = "http://upstream") -> httpx.URL:
        """The URL the request is sent to, refused (ValueError) unless, read the way the
        HTTP client reads it, it is still below the prefix and not an internal route."""
        try:
            url = httpx.URL(base + self.path)
        except httpx.InvalidURL as exc:  # e.g. a control character the server let through
            raise ValueError(f"{self.path!r} is not a URL path: {exc}") from None
        if url.raw_path.decode("ascii") != self.path or url.path.startswith("/internal/") \
                or not _under(url.path, self.prefix):
            raise ValueError(f"{self.path!r} would leave {self.prefix}")
        return url


class RouteTable:
    """Public path prefixes → service, built once from system.toml's `routes`."""

    def __init__(self, system: System, gateway: str) -> None:
        prefixes = [
            (prefix.rstrip("/"), svc.name)
            for svc in system.services.values() if svc.name != gateway
            for prefix in svc.routes if prefix.rstrip("/")
        ]
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    def target(self, raw_path: str) -> Target | None:
        """Where the request for `raw_path` (as sent, percent-encoded) goes; None if nowhere."""
        if not is_plain(raw_path):
            return None
        path = unquote(raw_path)
        if path.startswith("/internal/"):
            return None
        return next((Target(service, prefix, raw_path) for prefix, service in self._prefixes
                     if _under(path, prefix)), None)

    @property
    def prefixes(self) -> dict[str, str]:
        return dict(self._prefixes)


def is_plain(raw_path: str) -> bool:
    """True if no server or client could read `raw_path` as a different path."""
    if not raw_path.startswith("/") or "\\" in raw_path or "//" in raw_path:
        return False
    for segment in raw_path.split("/")[1:]:
        decoded = segment
        for _ in range(_DECODE_ROUNDS):
            if decoded in (".", "..") or "/" in decoded or "\\" in decoded:
                return False
            once = unquote(decoded)
            if once == decoded:
                break
            decoded = once
        else:
            return False  # still encoded after every round: nobody sends that honestly
    return True


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
