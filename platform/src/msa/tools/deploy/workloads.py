"""The objects of one service: ServiceAccount, Deployment, Service, HPA and PDB.

Every service runs the one way the platform starts a service, `python3 -m msa.serve
NAME`, with the settings of `msa.settings` from the environment: the shared ones
from the `msa-system` ConfigMap, its database URL from its own Secret, and its NATS
password from `msa-nats-NAME` (key `password`, mounted where `msa.nats_auth` reads it;
optional, so that an overlay whose NATS has no users, the dev one, runs without it).
A service with a database runs its migrations in an init container
(`python3 -m msa.migrate NAME`) before it starts.
"""

from __future__ import annotations

from typing import Any

from msa.system import Service, System

APP_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "app.kubernetes.io/component"
SYSTEM_CONFIG = "msa-system"
"""The ConfigMap holding the settings every service shares."""
PUBLIC_KEYS = "msa-service-public-keys"
"""The Secret holding every caller's public service key (`NAME.pub`)."""
USER_ID = 10001
DATA_DIR = "/var/lib/msa"
KEYS_DIR = "/etc/msa/service-keys"
SHUTDOWN_GRACE = 20
"""Seconds uvicorn lets requests finish after SIGTERM; the pod gets ten more."""


def image_name(service: str) -> str:
    """The image of a service, without registry or tag (overlays set both)."""
    return f"bookstore-{service}"


def labels(system: System, name: str, component: str = "service") -> dict[str, str]:
    return {APP_LABEL: name, PART_OF_LABEL: system.system.name, COMPONENT_LABEL: component}


def database_secret(service: str) -> str:
    """The Secret with the service's database `url` (and `username`/`password` for CNPG)."""
    return f"msa-db-{service}"


def nats_secret(service: str) -> str:
    """The Secret of the service's NATS credentials (optional until NATS requires them)."""
    return f"msa-nats-{service}"


def key_secret(service: str) -> str:
    """The Secret with the service's private service key (`NAME.pem`)."""
    return f"msa-service-key-{service}"


def system_config(system: System) -> dict[str, Any]:
    """The settings every service shares: where the others are, NATS, the environment."""
    addresses = {svc.name: [f"http://{svc.name}:{svc.port}"] for svc in system.services.values()}
    import json

    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": SYSTEM_CONFIG, "labels": labels(system, SYSTEM_CONFIG, "config")},
        "data": {
            "MSA_ENV": "production",
            "MSA_HOST": "0.0.0.0",
            "MSA_SYSTEM_FILE": "/app/system.toml",
            "MSA_NATS_URL": "nats://nats:4222",
            "MSA_ADDRESSES": json.dumps(addresses, separators=(",", ":"), sort_keys=True),
            "MSA_DATA_DIR": DATA_DIR,
            "MSA_SERVICE_KEYS_DIR": KEYS_DIR,
            "MSA_SHUTDOWN_GRACE": str(SHUTDOWN_GRACE),
            "MSA_LOG_LEVEL": "INFO",
        },
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def _env(svc: Service) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MSA_SERVICE", "value": svc.name},
        {"name": "MSA_PORT", "value": str(svc.port)},
        {"name": "MSA_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if svc.database:
        env.append({"name": "MSA_DATABASE_URL", "valueFrom": {
            "secretKeyRef": {"name": database_secret(svc.name), "key": "url"}}})
    return env


def _env_from(svc: Service) -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": SYSTEM_CONFIG}}]


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": failures}


def _volumes(svc: Service) -> list[dict[str, Any]]:
    return [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "service-keys", "projected": {"defaultMode": 0o440, "sources": [
            {"secret": {"name": key_secret(svc.name),
                        "items": [{"key": f"{svc.name}.pem", "path": f"{svc.name}.pem"}]}},
            {"secret": {"name": PUBLIC_KEYS}},
        ]}},
        *_nats_credentials(svc),  # last: overlays address the others by index
    ]


def _nats_credentials(svc: Service) -> list[dict[str, Any]]:
    """The service's NATS password, where `msa.nats_auth` reads it (in the data folder);
    optional, so an overlay whose NATS has no users (the dev one) runs without it."""
    if not (svc.publishes or svc.consumes):
        return []
    return [{"name": "nats-credentials", "secret": {
        "secretName": nats_secret(svc.name), "optional": True, "defaultMode": 0o400,
        "items": [{"key": "password", "path": f"{svc.name}.password"}]}}]


def _nats_mount(svc: Service) -> list[dict[str, Any]]:
    if not (svc.publishes or svc.consumes):
        return []
    return [{"name": "nats-credentials", "mountPath": f"{DATA_DIR}/secrets/nats",
             "readOnly": True}]


def _mounts() -> list[dict[str, Any]]:
    return [{"name": "tmp", "mountPath": "/tmp"},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "service-keys", "mountPath": KEYS_DIR, "readOnly": True}]


def _resources(cpu: str, memory: str, limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}


def deployment(system: System, svc: Service, tag: str) -> dict[str, Any]:
    """The service's Deployment: probes, resources, non-root, read-only root, spread."""
    image = f"{image_name(svc.name)}:{tag}"
    container: dict[str, Any] = {
        "name": svc.name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/bin/python3", "-m", "msa.serve", svc.name],
        "ports": [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}],
        "env": _env(svc),
        "envFrom": _env_from(svc),
        "resources": _resources("100m", "192Mi", "512Mi"),
        "startupProbe": _probe("/healthz", 2, 60),
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 2),
        "securityContext": _container_security(),
        "volumeMounts": [*_mounts(), *_nats_mount(svc)],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": svc.name,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": SHUTDOWN_GRACE + 10,
        "securityContext": {"runAsNonRoot": True, "runAsUser": USER_ID, "runAsGroup": USER_ID,
                            "fsGroup": USER_ID, "seccompProfile": {"type": "RuntimeDefault"}},
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {APP_LABEL: svc.name}}}
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")],
        "containers": [container],
        "volumes": _volumes(svc),
    }
    if svc.database:
        spec["initContainers"] = [{
            "name": "migrate",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/usr/bin/python3", "-m", "msa.migrate", svc.name],
            "env": [env for env in _env(svc) if env["name"] != "MSA_PORT"],
            "envFrom": [{"configMapRef": {"name": SYSTEM_CONFIG}}],
            "resources": _resources("50m", "128Mi", "256Mi"),
            "securityContext": _container_security(),
            "volumeMounts": _mounts(),
        }]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": svc.name, "labels": {**labels(system, svc.name),
                                                  "team": svc.team}},
        "spec": {
            "replicas": svc.replicas,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {APP_LABEL: svc.name}},
            "template": {"metadata": {"labels": {**labels(system, svc.name), "team": svc.team}},
                         "spec": spec},
        },
    }


def service_objects(system: System, svc: Service, tag: str) -> list[dict[str, Any]]:
    """Everything one service needs, in the order `kubectl apply` wants it."""
    meta = {"name": svc.name, "labels": labels(system, svc.name)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
         "automountServiceAccountToken": False},
        deployment(system, svc, tag),
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "selector": {APP_LABEL: svc.name},
            "ports": [{"name": "http", "port": svc.port, "targetPort": "http",
                       "protocol": "TCP"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
         "spec": {
             "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                "name": svc.name},
             "minReplicas": svc.replicas,
             "maxReplicas": max(3, svc.replicas * 3),
             "metrics": [{"type": "Resource", "resource": {
                 "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {APP_LABEL: svc.name}}}},
    ]
