"""Which service answers a public path, and the exact path it is sent on to.

A path is routed only if nothing downstream could read it as another one: no `.`
or `..` segment (raw or percent-encoded, in any case, however often encoded), no
encoded `/` or `\\`, no backslash, no empty segment. Otherwise a client library or
server could collapse `/api/wallet/%2e%2e/%2e%2e/internal/...` into an internal
route. The path forwarded is the one checked, as the client encoded it, and it
must still lie below the prefix that chose the service, never under `/internal/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from msa import System

_DECODE_ROUNDS = 4  # `%25252e` is still a dot to something that decodes three times
# RFC 3986 path characters: unreserved, percent-encoded, sub-delims, ":", "@" and "/"
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")


@dataclass(frozen=True)
class Target:
    """Where a public request goes: the service, the prefix that chose it and the path
    to send (percent-encoded, as the client sent it)."""

    service: str
    prefix: str
    path: str

    def upstream_path(self) -> str:
        """The path the request is sent on, exactly as checked; refused (ValueError) unless
        it is a well-formed URL path that, read with its dot segments resolved (as some
        server might), is still below the prefix and not an internal route."""
        if not _PATH.fullmatch(self.path):  # e.g. a control character the server let through
            raise ValueError(f"{self.path!r} is not a URL path")
        resolved = _without_dot_segments(unquote(self.path))
        if resolved.startswith("/internal/") or not _under(resolved, self.prefix):
            raise ValueError(f"{self.path!r} would leave {self.prefix}")
        return self.path


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


def _without_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: the path with `.` and `..` segments resolved."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif segment == ".":
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/" + "/".join(kept)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
