"""The system under test: started here behind fault proxies, or one already running.

`launch` starts a whole system with a `Runner` on free ports; the services the
schedule names reach PostgreSQL and NATS through fault proxies (started first, on
free ports, and given to the Runner as per-service environment). `attach` uses a
system that `msa up -d` runs; it has no proxies, so link faults are unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from msa.errors import MsaError
from msa.system import System
from msa.tools.chaos.control import AttachedControl, RunnerControl, SystemControl
from msa.tools.chaos.proxy import ProxyHub
from msa.tools.runner import Runner, RunnerState
from msa.tools.runner.ports import HOST

READY_TIMEOUT = 180.0


@dataclass
class ChaosTarget:
    """How to reach a running system and how to hurt it."""

    control: SystemControl
    data_dir: Path
    """The system's data folder (its secrets include the operator's credentials)."""
    addresses: dict[str, list[str]]
    gateway_url: str
    nats_url: str
    proxies: ProxyHub | None = None
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    """service → link ("db", "nats") → the name of its proxy in `proxies`."""
    runner: Runner | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop what `launch` started (nothing for an attached system)."""
        while self._closers:
            self._closers.pop()()


def link_name(service: str, link: str) -> str:
    return f"{service}:{link}"


async def launch(system: System, data_dir: Path, *, linked: tuple[str, ...] = (),
                 env: str = "test", env_overrides: Mapping[str, str] | None = None,
                 ready_timeout: float = READY_TIMEOUT) -> ChaosTarget:
    """Start `system` in process mode with `linked` services behind fault proxies."""
    hub = ProxyHub()
    try:
        service_env, links = _proxy_links(system, data_dir, hub, linked, env)
        runner = Runner(system, data_dir=data_dir, mode="process", free_ports=True, env=env,
                        env_overrides=env_overrides, service_env=service_env,
                        ready_timeout=ready_timeout)
        for named in links.values():
            if "db" in named:
                hub.set_target(named["db"], (HOST, runner.ports.postgres))
            if "nats" in named:
                hub.set_target(named["nats"], (HOST, runner.ports.nats))
        await asyncio.to_thread(runner.start)
    except BaseException:
        hub.close()
        raise
    target = ChaosTarget(RunnerControl(runner), runner.data_dir, runner.addresses,
                         runner.gateway_url,
                         runner.nats_url, hub, links, runner)
    target._closers.extend([hub.close, runner.stop])  # popped in reverse: runner first
    return target


def attach(data_dir: Path, state: RunnerState, addresses: dict[str, list[str]]) -> ChaosTarget:
    """A system another process supervises (`msa up -d`), in process mode."""
    if state.mode != "process":
        raise MsaError(f"chaos needs a system running in process mode, not {state.mode}")
    if state.nats is None or state.gateway_url is None:
        raise MsaError("the running system has no NATS server or gateway")
    from msa.nats_auth import operator_url

    return ChaosTarget(AttachedControl(data_dir), data_dir, addresses, state.gateway_url,
                       operator_url(state.nats.url, data_dir))


def _proxy_links(system: System, data_dir: Path, hub: ProxyHub, linked: tuple[str, ...],
                 env: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Proxies for each linked service, and the environment pointing it at them.

    The database URLs carry passwords the Runner keeps in `data_dir`: a Runner that
    is never started creates them there, and the real one reads the same file.
    """
    if not linked:
        return {}, {}
    probe = Runner(system, data_dir=data_dir, free_ports=True, env=env)
    probe.servers.load_secrets([svc.name for svc in system.with_database()])
    service_env: dict[str, dict[str, str]] = {}
    links: dict[str, dict[str, str]] = {}
    for service in linked:
        spec = system.service(service)
        values, named = {}, {}
        if spec.database:
            named["db"] = link_name(service, "db")
            port = hub.add(named["db"]).port
            values["MSA_DATABASE_URL"] = _with_port(probe.database_url(service), port)
        if spec.publishes or spec.consumes:
            named["nats"] = link_name(service, "nats")
            values["MSA_NATS_URL"] = f"nats://{HOST}:{hub.add(named['nats']).port}"
        service_env[service], links[service] = values, named
    return service_env, links


def _with_port(url: str, port: int) -> str:
    """`url` pointing at 127.0.0.1:`port`, credentials and path kept."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{HOST}:{port}"))
