"""The hook `msa admin create` calls (system.toml: `[system] admin`) to make an administrator.

It runs in the operator's process against identity's database, so the first
administrator of a production system needs no HTTP route and no default password.
"""

from __future__ import annotations

from typing import Any

from identity import handlers
from msa import Problem, create_engine


async def create_admin(database_url: str, email: str, password: str) -> dict[str, Any]:
    """Create the administrator `email`; ValueError saying why not (rules, email taken)."""
    engine = create_engine(database_url, pool_size=1, application_name="msa-admin")
    try:
        return await handlers.create_admin(engine, email, password)
    except Problem as problem:
        raise ValueError(problem.detail or problem.title) from None
    finally:
        await engine.dispose()
