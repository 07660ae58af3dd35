"""Who may call a service: the guard in front of every service app.

- No valid service token (`msa.service_auth`) → 401 problem, on every route but
  `/healthz`, `/readyz` and `/metrics`.
- Each caller may call some routes only, by path, from system.toml; anything else → 403:
  - a caller declaring the service in `calls`: the service's public `routes`;
  - the gateway, besides: only the internal paths its edge lists
    (`[services.<gateway>.edges.<service>] paths = [...]`, e.g. identity's JWKS);
  - any other declared caller, besides: the edge's `paths`, or by default every
    `/internal/<service>/...` route;
  - the `operator`: every `/internal/*` route (and `/openapi.json`);
  - the gateway, besides: `/openapi.json` (it publishes the public routes' part);
  - nobody: a path with a `.` or `..` segment, an empty segment or a backslash.
- `X-User-Id` / `X-User-Role` / `X-Client-Address` survive only when the gateway made
  the call: any other caller's are dropped, so no service can pose as a user.

The public edge (`ServiceDefinition(public=True)`, the gateway) is guarded on its
`/internal/*` routes only. Routes meant for operators alone add `OperatorOnly`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from msa.principal import (
    CLIENT_ADDRESS_HEADER,
    ROLE_HEADER,
    USER_HEADER,
    Forbidden,
    Unauthorized,
)
from msa.problems import problem_response
from msa.service_auth import (
    OPERATOR,
    SERVICE_TOKEN_HEADER,
    PublicKeys,
    ServiceCredentials,
    ServiceTokenVerifier,
    ensure_keys,
    key_folder,
    load_credentials,
)

if TYPE_CHECKING:
    from msa.runtime import Runtime
    from msa.system import System

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
OPERATOR_PATHS = frozenset({"/openapi.json"})
DESCRIBED_PATHS = frozenset({"/openapi.json"})
"""What the gateway may read besides its grants: the documents it merges into the public API's."""
CALLER_KEY = "msa.caller"
"""The ASGI scope key holding the verified caller's name."""
_TOKEN = SERVICE_TOKEN_HEADER.lower().encode()
_USER_HEADERS = {name.lower().encode() for name in (USER_HEADER, ROLE_HEADER,
                                                    CLIENT_ADDRESS_HEADER)}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ServiceAuth:
    """A running service's credentials, the verifier of its callers and who they may be."""

    credentials: ServiceCredentials
    verifier: ServiceTokenVerifier
    grants: Mapping[str, Grant]
    gateway: str
    public: bool

    @classmethod
    def load(cls, name: str, system: System, data_dir: str | None, *, production: bool,
             public: bool = False) -> ServiceAuth:
        """Read `name`'s keys (outside production, create every missing one first)."""
        folder = key_folder(data_dir)
        if not production:
            ensure_keys(folder, [*system.services, OPERATOR])
        return cls(load_credentials(folder, name), ServiceTokenVerifier(name, PublicKeys(folder)),
                   grants(system, name), system.system.gateway, public)

    @property
    def callers(self) -> frozenset[str]:
        """The services system.toml lets call this one (the operator aside)."""
        return frozenset(self.grants)

    def refusal(self, caller: str, path: str) -> str | None:
        """Why `caller` may not call `path` of this service, or None if it may."""
        service = self.verifier.audience
        if not _plain(path):
            return f"{path!r} is not a plain path: no caller may call it"
        if caller == OPERATOR and (path.startswith("/internal/") or path in OPERATOR_PATHS):
            return None
        if caller == self.gateway and path in DESCRIBED_PATHS:  # the public API document
            return None
        grant = self.grants.get(caller)
        if grant is None:
            return f"{caller} may not call {service} (system.toml: calls)"
        if grant.allows(path):
            return None
        return (f"{caller} may not call {path} of {service} "
                f"(system.toml: {service}'s routes, services.{caller}.edges.{service}.paths)")


@dataclass(frozen=True)
class Grant:
    """The routes one caller may call on one service: its public and its internal prefixes."""

    public: tuple[str, ...]
    internal: tuple[str, ...]

    def allows(self, path: str) -> bool:
        """True if `path` is under one of the internal prefixes, or (never being an
        `/internal/` path) under one of the public ones."""
        if any(_under(path, prefix) for prefix in self.internal):
            return True
        return not path.startswith("/internal/") and any(_under(path, p) for p in self.public)


def grants(system: System, name: str) -> dict[str, Grant]:
    """caller → what it may call on service `name`, for every caller system.toml declares."""
    public = tuple(system.services[name].routes)
    found = {}
    for caller in system.services.values():
        if name not in caller.calls:
            continue
        paths = caller.edge(name).paths
        if paths is None:
            paths = [] if caller.name == system.system.gateway else [f"/internal/{name}/"]
        found[caller.name] = Grant(public, tuple(paths))
    return found


def _under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it (`/api/wallet` covers `/api/wallet/x`, not `/api/walletx`)."""
    if prefix.endswith("/"):
        return path.startswith(prefix) or path == prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def _plain(path: str) -> bool:
    """No dot segments, empty segments or backslashes: nothing a server might rewrite."""
    if "\\" in path or "//" in path:
        return False
    return all(segment not in (".", "..") for segment in path.split("/"))


class ServiceGuard:
    """ASGI middleware enforcing `ServiceAuth` for the runtime's service."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = _route_path(scope)
        auth = self.runtime.auth
        if path in EXEMPT or (auth is not None and auth.public
                              and not path.startswith("/internal/")):
            return await self.app(scope, receive, send)
        if auth is None:  # not started: fail closed
            return await problem_response(503, "Service unavailable", "starting",
                                          path)(scope, receive, send)
        token = next((v.decode("latin-1") for k, v in scope["headers"] if k == _TOKEN), None)
        try:
            caller = auth.verifier.verify(token)
        except Unauthorized as exc:
            return await problem_response(401, exc.title, exc.detail, path)(scope, receive, send)
        refusal = auth.refusal(caller, path)
        if refusal:
            return await problem_response(403, "Forbidden", refusal, path)(scope, receive, send)
        if caller != auth.gateway:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in _USER_HEADERS]
        scope[CALLER_KEY] = caller
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below where the app is mounted (monolith: below `/_svc/<name>`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


async def _operator_only(request: Request) -> None:
    if request.scope.get(CALLER_KEY) != OPERATOR:
        raise Forbidden("this operation is for operators (the msa command line)")


OperatorOnly = Depends(_operator_only)
"""A route or router dependency: only the operator may call it."""
