"""The cluster parts a service relies on: PostgreSQL, NATS, the public route, monitoring.

- PostgreSQL through CloudNativePG: one `Cluster`, one managed role and one
  `Database` per service with a database; each role's password is read from the
  service's own Secret (`msa-db-NAME`: `username`, `password`, `url`).
- NATS: a three-node JetStream cluster (StatefulSet) with `sync_interval: always`
  (acknowledged messages survive a power loss: the 2025 Jepsen finding), and one
  user per service with the publish and subscribe permissions system.toml gives it
  (`msa.nats_auth`), plus `operator` for the tools. The passwords are never in the
  manifests: the config names environment variables, which the StatefulSet takes
  from the Secret `msa-nats-passwords` (`msa deploy nats-secrets` makes it and each
  service's `msa-nats-NAME`).
- The gateway: a Gateway API `HTTPRoute` from the cluster's Gateway.
- Monitoring: a `ServiceMonitor` per service, the `PrometheusRule` of
  `msa.tools.monitoring.rules` and the Grafana dashboards as ConfigMaps.
"""

from __future__ import annotations

import json
import re
from typing import Any

from msa.nats_auth import OPERATOR_USER, nats_users, server_authorization
from msa.system import System
from msa.tools.deploy.network import DATABASE_CLUSTER, NATS_PORT, NATS_SELECTOR
from msa.tools.deploy.workloads import APP_LABEL, database_secret, labels, nats_secret

NATS_IMAGE = "nats:2.12.1-alpine"
NATS_REPLICAS = 3
POSTGRES_INSTANCES = 3
GATEWAY_NAME = "public"
"""The Gateway (installed with the cluster's Gateway API implementation) the route attaches to."""


def database_objects(system: System) -> list[dict[str, Any]]:
    """The CloudNativePG Cluster with one role per service, and one Database each."""
    roles = [{"name": svc.name, "ensure": "present", "login": True, "inherit": True,
              "connectionLimit": -1, "passwordSecret": {"name": database_secret(svc.name)}}
             for svc in system.with_database()]
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": DATABASE_CLUSTER, "labels": labels(system, DATABASE_CLUSTER,
                                                                "database")},
        "spec": {
            "instances": POSTGRES_INSTANCES,
            "primaryUpdateStrategy": "unsupervised",
            "storage": {"size": "10Gi"},
            "postgresql": {"parameters": {"max_connections": "300"}},
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                          "limits": {"memory": "2Gi"}},
            "managed": {"roles": roles},
            "monitoring": {"enablePodMonitor": True},
        },
    }
    databases = [{
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
        "metadata": {"name": f"{DATABASE_CLUSTER}-{svc.name}",
                     "labels": labels(system, svc.name, "database")},
        "spec": {"name": svc.name, "owner": svc.name, "ensure": "present",
                 "cluster": {"name": DATABASE_CLUSTER}},
    } for svc in system.with_database()]
    return [cluster, *databases]


NATS_LOGINS = "msa-nats-passwords"
"""The Secret holding every NATS user's password, one key per user."""


def password_variable(user: str) -> str:
    """The environment variable the NATS config reads `user`'s password from."""
    return "NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


def nats_authorization(system: System) -> str:
    """The `authorization` block: a user per service (permissions from system.toml) and
    the operator's, each password an environment variable (unquoted, so NATS resolves it)."""
    block = server_authorization(system, {user: f"${password_variable(user)}"
                                          for user in nats_users(system)})
    return re.sub(r'"\$(NATS_PASSWORD_\w+)"', r"$\1", block)


def nats_secrets(system: System, namespace: str | None = None) -> list[dict[str, Any]]:
    """Fresh NATS passwords as Secrets: `msa-nats-passwords` for the servers (a key per
    user) and `msa-nats-NAME` (key `password`) for each service. Made when asked
    (`msa deploy nats-secrets | kubectl apply -f -`), never written to the repository."""
    import secrets as random

    passwords = {user: random.token_urlsafe(24) for user in nats_users(system)}

    def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": labels(system, name, "credentials")}
        if namespace:
            meta["namespace"] = namespace
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta,
                "stringData": data}

    return [secret(NATS_LOGINS, passwords),
            *(secret(nats_secret(user), {"password": password})
              for user, password in passwords.items() if user != OPERATOR_USER),
            secret(nats_secret(OPERATOR_USER), {"password": passwords[OPERATOR_USER]})]


def nats_config(system: System) -> str:
    """nats.conf of one cluster node; the pod's name makes its server name."""
    routes = ",\n    ".join(f"nats://nats-{i}.nats-cluster:6222" for i in range(NATS_REPLICAS))
    return (
        f"port: {NATS_PORT}\n"
        "http_port: 8222\n"
        "server_name: $POD_NAME\n"
        "jetstream {\n"
        "  store_dir: /data\n"
        "  # fsync every write: the default lost acknowledged messages (Jepsen, 2025)\n"
        "  sync_interval: always\n"
        "}\n"
        "cluster {\n"
        "  name: nats\n"
        "  port: 6222\n"
        f"  routes: [\n    {routes}\n  ]\n"
        "}\n"
        "lame_duck_duration: 30s\n"
        + nats_authorization(system)
    )


def nats_objects(system: System) -> list[dict[str, Any]]:
    """The NATS JetStream cluster: config, StatefulSet, its Services and its PDB."""
    meta = {"name": "nats", "labels": labels(system, "nats", "broker")}
    probe = {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
             "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3}
    container = {
        "name": "nats", "image": NATS_IMAGE, "imagePullPolicy": "IfNotPresent",
        "args": ["--config", "/etc/nats/nats.conf"],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                *({"name": password_variable(user), "valueFrom": {"secretKeyRef": {
                    "name": NATS_LOGINS, "key": user}}} for user in nats_users(system))],
        "ports": [{"name": "client", "containerPort": NATS_PORT},
                  {"name": "cluster", "containerPort": 6222},
                  {"name": "monitor", "containerPort": 8222}],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                      "limits": {"memory": "1Gi"}},
        "startupProbe": {**probe, "failureThreshold": 30},
        "livenessProbe": {**probe, "httpGet": {"path": "/healthz", "port": "monitor"}},
        "readinessProbe": probe,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/nats"},
                         {"name": "data", "mountPath": "/data"}],
    }
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
        "spec": {
            "serviceName": "nats-cluster", "replicas": NATS_REPLICAS,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": NATS_SELECTOR},
            "template": {"metadata": {"labels": labels(system, "nats", "broker")}, "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                    "fsGroup": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 60,
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": NATS_SELECTOR}}],
                "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}}}}],
        },
    }
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "nats-config", "labels": labels(system, "nats", "broker")},
         "data": {"nats.conf": nats_config(system)}},
        statefulset,
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "selector": NATS_SELECTOR,
            "ports": [{"name": "client", "port": NATS_PORT, "targetPort": "client"}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "nats-cluster", "labels": labels(system, "nats", "broker")},
         "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                  "selector": NATS_SELECTOR,
                  "ports": [{"name": "cluster", "port": 6222, "targetPort": "cluster"},
                            {"name": "monitor", "port": 8222, "targetPort": "monitor"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": NATS_SELECTOR}}},
    ]


def route_objects(system: System) -> list[dict[str, Any]]:
    """The gateway service behind the cluster's Gateway: every public route prefix."""
    gateway = system.services[system.system.gateway]
    matches = [{"path": {"type": "PathPrefix", "value": prefix}}
               for prefix in sorted(set(gateway.routes or ["/"]))]
    return [{
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": gateway.name, "labels": labels(system, gateway.name, "route")},
        "spec": {
            "parentRefs": [{"name": GATEWAY_NAME}],
            "rules": [{"matches": matches,
                       "backendRefs": [{"name": gateway.name, "port": gateway.port}]}],
        },
    }]


def monitoring_objects(system: System) -> list[dict[str, Any]]:
    """ServiceMonitors, the PrometheusRule of today's alert rules, dashboards as ConfigMaps."""
    from msa.tools.monitoring.dashboards import dashboards
    from msa.tools.monitoring.rules import rule_groups

    found: list[dict[str, Any]] = [{
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": svc.name, "labels": labels(system, svc.name, "monitoring")},
        "spec": {"selector": {"matchLabels": {APP_LABEL: svc.name}},
                 "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
                 "targetLabels": ["app.kubernetes.io/part-of"]},
    } for svc in system.services.values()]
    found.append({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": f"{system.system.name}-rules",
                     "labels": labels(system, "rules", "monitoring")},
        "spec": rule_groups(system),
    })
    for stem, board in dashboards(system).items():
        found.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"dashboard-{stem}",
                         "labels": {**labels(system, f"dashboard-{stem}", "monitoring"),
                                    "grafana_dashboard": "1"}},
            "data": {f"{stem}.json": json.dumps(board, indent=1, ensure_ascii=False) + "\n"},
        })
    return found
