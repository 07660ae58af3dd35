"""The deployment policy, checked on rendered objects (a list of Kubernetes dicts).

- every image has an explicit tag, never `latest`;
- every container has resource requests and a memory limit; every long-running
  container a readiness and a liveness probe;
- every pod runs as non-root, every container with a read-only root filesystem,
  no privilege escalation and every capability dropped;
- every service of system.toml has a Deployment, Service, ServiceAccount, HPA,
  PodDisruptionBudget and NetworkPolicy, and a default-deny policy exists;
- the NetworkPolicies allow exactly system.toml's edges: the call edges (both the
  caller's egress and the callee's ingress), NATS for exactly the services with
  events, PostgreSQL for exactly the services with a database.

`violations` returns what is wrong, one line each; an empty list passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from msa.system import System
from msa.tools.deploy.network import DATABASE_SELECTOR, NATS_SELECTOR, call_edges, event_services
from msa.tools.deploy.workloads import APP_LABEL

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")
REQUIRED_PER_SERVICE = ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
                        "PodDisruptionBudget", "NetworkPolicy")


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers"):
        for container in pod.get(field) or []:
            yield field, container


def workload_violations(obj: dict[str, Any]) -> list[str]:
    """What is wrong with one workload's images, resources, probes and security."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    pod = _pod_spec(obj)
    found: list[str] = []
    pod_security = pod.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        found.append(f"{where}: the pod does not set runAsNonRoot")
    for field, container in _containers(pod):
        name = f"{where} {container.get('name')}"
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
        if not tag or tag == "latest":
            found.append(f"{name}: image {image!r} has no explicit tag")
        resources = container.get("resources") or {}
        if not resources.get("requests") or "memory" not in (resources.get("limits") or {}):
            found.append(f"{name}: no resource requests or memory limit")
        if field == "containers" and obj["kind"] != "Job":
            for probe in ("readinessProbe", "livenessProbe"):
                if not container.get(probe):
                    found.append(f"{name}: no {probe}")
        security = container.get("securityContext") or {}
        if security.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: root filesystem is writable")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: privilege escalation is not disabled")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            found.append(f"{name}: capabilities are not all dropped")
    return found


def _selected_app(peer: dict[str, Any]) -> str | None:
    labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return labels.get(APP_LABEL) if "namespaceSelector" not in peer else None


def _selects(peer: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return "namespaceSelector" not in peer and labels == selector


def allowed_edges(objects: list[dict[str, Any]], system: System) -> dict[str, set[Any]]:
    """What the NetworkPolicies allow between the system's pods, read back from them."""
    services = set(system.services)
    egress_calls: set[tuple[str, str]] = set()
    ingress_calls: set[tuple[str, str]] = set()
    to_nats: set[str] = set()
    to_database: set[str] = set()
    nats_from: set[str] = set()
    database_from: set[str] = set()
    for obj in objects:
        if obj.get("kind") != "NetworkPolicy":
            continue
        selected = (obj["spec"].get("podSelector") or {}).get("matchLabels") or {}
        owner = selected.get(APP_LABEL)
        for rule in obj["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                source = _selected_app(peer)
                if source in services and owner in services:
                    ingress_calls.add((source, owner))
                elif source in services and selected == NATS_SELECTOR:
                    nats_from.add(source)
                elif source in services and selected == DATABASE_SELECTOR:
                    database_from.add(source)
        for rule in obj["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                target = _selected_app(peer)
                if owner in services and target in services:
                    egress_calls.add((owner, target))
                elif owner in services and _selects(peer, NATS_SELECTOR):
                    to_nats.add(owner)
                elif owner in services and _selects(peer, DATABASE_SELECTOR):
                    to_database.add(owner)
    return {"egress_calls": egress_calls, "ingress_calls": ingress_calls, "to_nats": to_nats,
            "nats_from": nats_from, "to_database": to_database, "database_from": database_from}


def network_violations(objects: list[dict[str, Any]], system: System) -> list[str]:
    """Where the NetworkPolicies allow more or less than system.toml declares."""
    allowed = allowed_edges(objects, system)
    with_database = {svc.name for svc in system.with_database()}
    expected: dict[str, set[Any]] = {
        "egress_calls": call_edges(system), "ingress_calls": call_edges(system),
        "to_nats": event_services(system), "nats_from": event_services(system),
        "to_database": with_database, "database_from": with_database}
    found: list[str] = []
    for key, want in expected.items():
        extra, missing = allowed[key] - want, want - allowed[key]
        if extra:
            found.append(f"NetworkPolicy {key}: allows undeclared {sorted(extra)}")
        if missing:
            found.append(f"NetworkPolicy {key}: misses declared {sorted(missing)}")
    deny = [obj for obj in objects if obj.get("kind") == "NetworkPolicy"
            and not obj["spec"].get("podSelector") and not obj["spec"].get("ingress")
            and not obj["spec"].get("egress")
            and set(obj["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}]
    if not deny:
        found.append("no default-deny NetworkPolicy")
    return found


def violations(objects: list[dict[str, Any]], system: System) -> list[str]:
    """Everything the rendered `objects` break of the policy (empty: they pass)."""
    found: list[str] = []
    for obj in objects:
        if obj.get("kind") in WORKLOAD_KINDS:
            found += workload_violations(obj)
    present = {(obj.get("kind"), obj.get("metadata", {}).get("name")) for obj in objects}
    for name in system.services:
        for kind in REQUIRED_PER_SERVICE:
            if (kind, name) not in present:
                found.append(f"service {name}: no {kind}")
    return found + network_violations(objects, system)
