"""`msa deploy try`: the rendered dev overlay, run on this host with `podman kube play`.

The same kustomize base a cluster gets, built by `kubectl kustomize`, with the
dev overlay's host ports chosen free and its host folder made fresh. podman plays
the Deployments (PostgreSQL and NATS first, then the services, their migration
init containers included) with the `msa-system` ConfigMap and the database
Secrets as podman secrets; it does not honour Services, ServiceAccounts, HPAs or
PDBs (listed in `Trial.not_honoured`), and the dev overlay leaves out the parts
only a cluster has (NetworkPolicies, CloudNativePG, the NATS cluster, Gateway API,
Prometheus operator objects). `down()` stops and removes everything it started,
the secrets and folder it made and, with `remove_images`, the images it built.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msa.errors import ConfigError, MsaError
from msa.system import System
from msa.tools.deploy import dev, images, podman
from msa.tools.deploy.layout import RenderOptions, render_tree, write_tree, yaml_documents
from msa.tools.deploy.local_stores import READY_MARKER
from msa.tools.deploy.workloads import COMPONENT_LABEL, USER_ID, database_secret

HONOURED = {"Deployment", "ConfigMap"}
READY_TIMEOUT = 300.0


def _free_ports(system: System) -> dev.HostPorts:
    from msa.tools.runner.ports import free_port, port_is_free

    taken: set[int] = set()

    def pick(pair: bool = False) -> int:
        while True:
            port = free_port()
            if port not in taken and (not pair or (port + 1 not in taken
                                                   and port_is_free(port + 1))):
                taken.update({port, port + 1} if pair else {port})
                return port

    return dev.HostPorts({name: pick() for name in system.services}, pick(), pick(pair=True))


@dataclass
class Trial:
    """One run of the dev overlay under podman; `up()`, then `down()` (also on failure)."""

    system: System
    tag: str
    base_image: str = images.DEFAULT_BASE_IMAGE
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="msa-try-")))
    ports: dev.HostPorts | None = None
    built: dict[str, int] = field(default_factory=dict)
    not_honoured: list[str] = field(default_factory=list)
    seconds_to_ready: float | None = None
    _played: list[Path] = field(default_factory=list)
    _pods: list[str] = field(default_factory=list)
    _secrets: list[str] = field(default_factory=list)
    _dangling_before: set[str] = field(default_factory=set)
    _volumes_before: set[str] | None = None

    @property
    def host_dir(self) -> Path:
        return self.work / "host"

    @property
    def addresses(self) -> dict[str, list[str]]:
        assert self.ports is not None
        return {name: [f"http://127.0.0.1:{port}"] for name, port in self.ports.services.items()}

    @property
    def gateway_url(self) -> str:
        return self.addresses[self.system.system.gateway][0]

    @property
    def nats_url(self) -> str:
        assert self.ports is not None
        return f"nats://127.0.0.1:{self.ports.nats}"

    def build(self) -> dict[str, int]:
        """Make the base image if needed, then every image; image → size in bytes."""
        podman.ensure_base_image(self.base_image)
        self._dangling_before = self._dangling()
        specs = images.write_context(self.system, self.work / "images", self.base_image,
                                     wheel_cache=self.system.root / "build" / "wheel-cache")
        self.built = podman.build_images(self.work / "images", specs, self.tag, self.base_image)
        return self.built

    def objects(self) -> list[dict[str, Any]]:
        """The dev overlay as `kubectl kustomize` builds it, for this host's ports and folder."""
        import yaml

        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise ConfigError("kubectl is not installed: it builds the dev overlay (kustomize)")
        self.ports = self.ports or _free_ports(self.system)
        tree = render_tree(self.system, RenderOptions(
            environments=("dev",), tag=self.tag, dev_ports=self.ports,
            dev_host_dir=str(self.host_dir)))
        write_tree(tree, self.work / "k8s")
        built = subprocess.run([kubectl, "kustomize", str(self.work / "k8s" / "overlays" / "dev")],
                               capture_output=True, text=True, timeout=120)
        if built.returncode != 0:
            raise MsaError(f"kubectl kustomize failed: {built.stderr.strip()}")
        return [doc for doc in yaml.safe_load_all(built.stdout) if doc]

    def up(self, timeout: float = READY_TIMEOUT) -> None:
        """Play the dev overlay and wait until every service answers ready; then seed."""
        objects = self.objects()
        self.not_honoured = sorted({f"{obj['kind']}/{obj['metadata']['name']}"
                                    for obj in objects if obj["kind"] not in HONOURED})
        config = self.work / "configmaps.yaml"
        config.write_text(yaml_documents([o for o in objects if o["kind"] == "ConfigMap"]))
        deployments = [o for o in objects if o["kind"] == "Deployment"]
        stores = [o for o in deployments if o["metadata"]["labels"].get(COMPONENT_LABEL) == "store"]
        services = [o for o in deployments if o not in stores]
        self._prepare_host()
        self._volumes_before = self._volumes()
        started = time.monotonic()
        self._play("stores", stores, config)
        assert self.ports is not None
        self._wait_ports([self.ports.postgres, self.ports.nats], timeout)
        self._wait_file(self.host_dir / "postgres" / READY_MARKER, timeout)
        self._play("services", services, config)
        self._wait_ready(timeout)
        self.seconds_to_ready = time.monotonic() - started
        self._seed()

    def down(self, remove_images: bool = True, keep_build_cache: bool = True) -> None:
        """Stop and remove what `up` and `build` made; safe to call more than once.

        With `keep_build_cache` the untagged layers podman keeps as its build cache stay
        (like the base image), so that the next build reuses them; `podman image prune`
        removes them.
        """
        for played in reversed(self._played):
            podman.podman("kube", "down", str(played), what="podman kube down", check=False)
        self._played.clear()
        if self._pods:  # what a failed play left half-made
            listed = podman.podman("pod", "ps", "--format", "{{.Name}}", what="listing pods",
                                   check=False).split()
            leftover = [pod for pod in listed
                        if any(pod.startswith(f"{name}-pod-") for name in self._pods)]
            if leftover:
                podman.podman("pod", "rm", "--force", *leftover, what="removing pods",
                              check=False)
            self._pods.clear()
        if self._volumes_before is not None:  # podman makes a named volume per emptyDir
            for volume in sorted(self._volumes() - self._volumes_before):
                podman.podman("volume", "rm", "--force", volume, what="removing a volume",
                              check=False)
            self._volumes_before = None
        for name in self._secrets:
            podman.podman("secret", "rm", name, what="removing a secret", check=False)
        self._secrets.clear()
        if remove_images and self.built:
            podman.remove_images(list(self.built))
            if not keep_build_cache:
                podman.remove_images(sorted(self._dangling() - self._dangling_before))
            self.built = {}
        shutil.rmtree(self.work, ignore_errors=True)

    # -- steps -----------------------------------------------------------------

    def _volumes(self) -> set[str]:
        listed = podman.podman("volume", "ls", "--quiet", what="listing volumes", check=False)
        return set(listed.split())

    def _dangling(self) -> set[str]:
        listed = podman.podman("images", "--quiet", "--filter", "dangling=true",
                               what="listing images", check=False)
        return set(listed.split())

    def _prepare_host(self) -> None:
        keys = self.host_dir / "secrets" / "services"
        for folder in (keys, self.host_dir / "postgres", self.host_dir / "nats"):
            folder.mkdir(parents=True, exist_ok=True)
        from msa.service_auth import OPERATOR, ensure_keys

        ensure_keys(keys, [OPERATOR])  # before the services start: they cache unknown keys
        self.work.chmod(0o755)
        if os.geteuid() == 0:  # the pods run as USER_ID and write here
            for path in [self.host_dir, *self.host_dir.rglob("*")]:
                os.chown(path, USER_ID, USER_ID)
        for svc in self.system.with_database():
            self._secret(database_secret(svc.name), svc.name)

    def _secret(self, name: str, role: str) -> None:
        import secrets

        assert self.ports is not None
        password = secrets.token_urlsafe(24)
        url = f"postgresql://{role}:{password}@127.0.0.1:{self.ports.postgres}/{role}"
        data = {"username": role, "password": password, "url": url}
        path = self.work / f"{name}.json"
        path.write_text(json.dumps({k: base64.b64encode(v.encode()).decode()
                                    for k, v in data.items()}))
        podman.podman("secret", "rm", name, what="removing a stale secret", check=False)
        podman.podman("secret", "create", name, str(path), what=f"creating secret {name}")
        self._secrets.append(name)
        path.unlink()

    def _play(self, label: str, objects: list[dict[str, Any]], config: Path) -> None:
        path = self.work / f"play-{label}.yaml"
        path.write_text(yaml_documents(objects))
        self._played.append(path)
        self._pods += [obj["metadata"]["name"] for obj in objects]
        podman.podman("kube", "play", "--configmap", str(config), str(path),
                      what=f"podman kube play of the {label}")

    def _wait_ports(self, ports: list[int], timeout: float) -> None:
        import socket

        deadline = time.monotonic() + timeout
        for port in ports:
            while True:
                with socket.socket() as sock:
                    sock.settimeout(0.5)
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise MsaError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s"
                                   f"{self._logs_hint()}")
                time.sleep(0.2)

    def _wait_file(self, path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise MsaError(f"PostgreSQL not provisioned after {timeout:.0f} s"
                               f"{self._logs_hint()}")
            time.sleep(0.2)

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        waiting = dict(self.addresses)
        while waiting:
            for name, urls in list(waiting.items()):
                try:
                    if httpx.get(f"{urls[0]}/readyz", timeout=2).status_code == 200:
                        del waiting[name]
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise MsaError(f"not ready after {timeout:.0f} s: {', '.join(sorted(waiting))}"
                               f"{self._logs_hint()}")
            if waiting:
                time.sleep(0.5)

    def _logs_hint(self) -> str:
        listed = podman.podman("ps", "--all", "--format", "{{.Names}} {{.Status}}",
                               what="listing containers", check=False)
        failing = [line for line in listed.splitlines() if "Exited" in line
                   and "-infra" not in line]
        if not failing:
            return ""
        name = failing[0].split()[0]
        tail = podman.podman("logs", "--tail", "3", name, what="logs", check=False).strip()
        return f" ({failing[0]}: {' | '.join(tail.splitlines()[-3:])})"

    def _seed(self) -> None:
        from msa.tools.runner.seeding import load_seed, run_seed

        seed = load_seed(self.system)
        if seed is not None:
            run_seed(seed, self.addresses, self.host_dir)
