"""Which service answers a public path: the longest matching prefix from system.toml."""

from __future__ import annotations

from msa.system import System


class RouteTable:
    """Public path prefixes → service, built once from system.toml's `routes`."""

    def __init__(self, system: System, gateway: str) -> None:
        prefixes = [
            (prefix.rstrip("/"), svc.name)
            for svc in system.services.values() if svc.name != gateway
            for prefix in svc.routes if prefix.rstrip("/")
        ]
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    def service_for(self, path: str) -> str | None:
        for prefix, service in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return service
        return None

    @property
    def prefixes(self) -> dict[str, str]:
        return dict(self._prefixes)
