"""The system's seed: data a fresh system needs, loaded through its services' APIs.

system.toml names it (`[system] seed = "package.module:NAME"`): an
`async def seed(access: msa.checks.SystemAccess) -> str` that returns a one-line
summary. `msa up` runs it once everything is ready; it must be idempotent (it
runs on every `msa up`). The platform knows nothing of what it loads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from msa.errors import ConfigError, MsaError

if TYPE_CHECKING:
    from msa.checks import SystemAccess
    from msa.system import System

Seed = Callable[["SystemAccess"], Awaitable[str]]
SEED_TIMEOUT = 120.0


def load_seed(system: System) -> Seed | None:
    """The seed system.toml names, or None; ConfigError if it cannot be loaded."""
    path = system.system.seed
    if not path:
        return None
    from msa.serve import load_factory

    try:
        seed = load_factory(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot load seed {path!r}: {exc}") from None
    if not callable(seed):
        raise ConfigError(f"seed {path!r} is not callable")
    return seed


def run_seed(seed: Seed, addresses: dict[str, list[str]], data_dir: Path,
             timeout: float = SEED_TIMEOUT) -> str:
    """Run `seed` against the services at `addresses` as the operator; its summary line.

    Any failure becomes an MsaError with one line.
    """
    from msa.checks import SystemAccess

    async def go() -> str:
        access = SystemAccess(addresses, data_dir=data_dir)
        try:
            return str(await asyncio.wait_for(seed(access), timeout))
        finally:
            await access.aclose()

    try:
        return asyncio.run(go())
    except MsaError:
        raise
    except TimeoutError:
        raise MsaError(f"the seed did not finish in {timeout:.0f} s") from None
    except Exception as exc:
        raise MsaError(f"{type(exc).__name__}: {exc}") from None
