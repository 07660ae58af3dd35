"""Who may call a service: the guard in front of every service app.

- No valid service token (`msa.service_auth`) → 401 problem, on every route but
  `/healthz`, `/readyz` and `/metrics`.
- A caller system.toml does not declare (`calls`) → 403. The `operator` may call
  every service's `/internal/*` routes (and read its `/openapi.json`).
- `X-User-Id` / `X-User-Role` survive only when the gateway made the call: any other
  caller's are dropped, so no service can pose as a user.

The public edge (`ServiceDefinition(public=True)`, the gateway) is guarded on its
`/internal/*` routes only. Routes meant for operators alone add `OperatorOnly`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from msa.principal import ROLE_HEADER, USER_HEADER, Forbidden, Unauthorized
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
    from msa.service import Runtime
    from msa.system import System

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
OPERATOR_PATHS = frozenset({"/openapi.json"})
CALLER_KEY = "msa.caller"
"""The ASGI scope key holding the verified caller's name."""
_TOKEN = SERVICE_TOKEN_HEADER.lower().encode()
_USER_HEADERS = {USER_HEADER.lower().encode(), ROLE_HEADER.lower().encode()}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ServiceAuth:
    """A running service's credentials, the verifier of its callers and who they may be."""

    credentials: ServiceCredentials
    verifier: ServiceTokenVerifier
    callers: frozenset[str]
    gateway: str
    public: bool

    @classmethod
    def load(cls, name: str, system: System, data_dir: str | None, *, production: bool,
             public: bool = False) -> ServiceAuth:
        """Read `name`'s keys (outside production, create every missing one first)."""
        folder = key_folder(data_dir)
        if not production:
            ensure_keys(folder, [*system.services, OPERATOR])
        callers = frozenset(s.name for s in system.services.values() if name in s.calls)
        return cls(load_credentials(folder, name), ServiceTokenVerifier(name, PublicKeys(folder)),
                   callers, system.system.gateway, public)

    def refusal(self, caller: str, path: str) -> str | None:
        """Why `caller` may not call `path` of this service, or None if it may."""
        if caller in self.callers:
            return None
        if caller == OPERATOR and (path.startswith("/internal/") or path in OPERATOR_PATHS):
            return None
        return f"{caller} may not call {self.verifier.audience} here (system.toml: calls)"


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


def _operator_only(request: Request) -> None:
    if request.scope.get(CALLER_KEY) != OPERATOR:
        raise Forbidden("this operation is for operators (the msa command line)")


OperatorOnly = Depends(_operator_only)
"""A route or router dependency: only the operator may call it."""
