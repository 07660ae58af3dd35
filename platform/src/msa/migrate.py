"""Migrate one service's database and exit: `python3 -m msa.migrate SERVICE`.

Kubernetes runs it as an init container before the service starts, so a failing
migration stops a rollout before any new replica takes traffic. It reads the same
settings as the service (`msa.settings`) and runs the same `msa.db.migrate` the
service runs at start (which then finds nothing to do).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from msa.errors import MsaError

CONNECT_PATIENCE = 120.0
"""Seconds to keep trying while the database cannot be reached (it may be starting)."""


def _definition(app_path: str) -> Any:
    from msa.serve import load_factory

    factory = load_factory(app_path)
    definition = getattr(factory, "__self__", None)
    if definition is None or not hasattr(definition, "migrations"):
        raise MsaError(f"{app_path} is not a ServiceDefinition's create_app")
    return definition


async def migrate_service(name: str) -> None:
    """Bring `name`'s database (platform tables, then the service's) to the newest revision."""
    from msa import db
    from msa.settings import load_settings
    from msa.system import load_system

    settings = load_settings(name)
    system = load_system(settings.system_file)
    spec = system.service(name)
    if not spec.database:
        return
    if settings.database_url is None:
        raise MsaError(f"{name}: setting MSA_DATABASE_URL is missing")
    definition = _definition(spec.app)
    engine = db.create_engine(settings.database_url.get_secret_value(), pool_size=1,
                              application_name=f"{name}-migrate")
    deadline = time.monotonic() + CONNECT_PATIENCE
    try:
        while True:
            try:
                await db.migrate(engine, definition.migrations)
                return
            except Exception as exc:  # the database may still be starting
                if not db.database_unreachable(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(1.0)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m msa.migrate SERVICE", file=sys.stderr)
        return 2
    try:
        asyncio.run(migrate_service(args[0]))
    except MsaError as exc:
        print(f"msa.migrate: {exc}", file=sys.stderr)
        return 2
    print(f"msa.migrate: {args[0]} is at the newest revision", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
