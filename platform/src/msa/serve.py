"""Run a service process: `python -m msa.serve SERVICE` or `python -m msa.serve --monolith`.

The one way every service starts, locally, in tests and in a container. Errors in
settings or system.toml end the process with one line on stderr and exit code 2.
In monolith mode every service of system.toml runs in this process on one port:
the gateway at `/`, each other service mounted at `/_svc/<name>` (for operators
and checkers); calls between them go in-process. Several monolith workers (one per
core) serve one public port together: each binds `MSA_SHARED_PORT` with
SO_REUSEPORT, so the kernel spreads connections over them, and answers its own
`MSA_PORT` too (the runner's readiness probes, an operator's look at one worker).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from msa.errors import MsaError

MONOLITH_PREFIX = "/_svc"


def load_factory(app_path: str) -> Callable[..., Any]:
    """Import `package.module:function` from system.toml's `app`."""
    module_name, _, attribute = app_path.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[..., Any] = getattr(module, attribute)
    return factory


def build_service(name: str) -> tuple[Any, Any]:
    """The ASGI app and settings of one service, from the environment."""
    from msa.settings import load_settings
    from msa.system import load_system

    settings = load_settings(name)
    system = load_system(settings.system_file)
    factory = load_factory(system.service(name).app)
    return factory(settings, system=system), settings


def build_monolith() -> tuple[Any, Any]:
    """One ASGI app holding every service of the system."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from msa.metrics_access import operator_metrics
    from msa.runtime import Colocation
    from msa.settings import load_settings
    from msa.system import load_system

    host_settings = load_settings("monolith")
    system = load_system(host_settings.system_file)
    colocation = Colocation()
    for spec in system.services.values():
        settings = load_settings(spec.name, instance="monolith", port=host_settings.port)
        factory = load_factory(spec.app)
        colocation.apps[spec.name] = factory(settings, system=system, colocation=colocation)
    gateway = system.system.gateway

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # the gateway last, so that it starts when what it calls is up
            for name in sorted(colocation.apps, key=lambda n: n == gateway):
                app = colocation.apps[name]
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    async def readyz(_: Request) -> JSONResponse:
        checks = {}
        for name, app in colocation.apps.items():
            checks[name] = all((await app.state.runtime.readiness()).values())
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "monolith"})

    routes: list[Any] = [
        Route("/readyz", readyz),
        Route("/healthz", healthz),
        # the monolith's one port is also the public one: metrics for the scraper only
        Route("/metrics", operator_metrics(host_settings.data_dir,
                                           production=host_settings.env == "production")),
    ]
    routes += [Mount(f"{MONOLITH_PREFIX}/{name}", app=app)
               for name, app in colocation.apps.items() if name != gateway]
    routes.append(Mount("/", app=colocation.apps[gateway]))
    return Starlette(routes=routes, lifespan=lifespan), host_settings


def bind(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A TCP socket bound to `host:port`, not yet listening (the server listens once the
    app has started, so no connection waits on a worker that is still starting); with
    `shared`, other processes may bind the same port (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MsaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msa.serve")
    parser.add_argument("service", nargs="?", help="the service to run")
    parser.add_argument("--monolith", action="store_true", help="run every service in one process")
    args = parser.parse_args(argv)
    if not args.monolith and not args.service:
        parser.error("name a service or pass --monolith")
    try:
        import uvicorn

        from msa.header_timeout import protocol_with
        from msa.logs import configure_logging

        if args.monolith:
            app, settings = build_monolith()
        else:
            app, settings = build_service(args.service)
        configure_logging(settings.service, settings.instance_name, settings.version,
                          settings.log_level)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop" if sys.platform != "win32" else "asyncio",
            # httptools, with a deadline for request headers (slow or half-open clients)
            http=protocol_with(settings.header_timeout),
            limit_concurrency=settings.max_connections,  # past it: 503, not a stalled process
            lifespan="on",
            ws="none",  # no service speaks WebSocket; "auto" imports a library per process
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace),  # 0 would mean no limit
            server_header=False,
        )
        server = uvicorn.Server(config)
        shared = os.environ.get("MSA_SHARED_PORT") if args.monolith else None
        if shared:
            server.run(sockets=[bind(settings.host, int(shared), shared=True),
                                bind(settings.host, settings.port)])
        else:
            server.run()
        return 0 if server.started else 3
    except MsaError as exc:
        print(f"msa.serve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
