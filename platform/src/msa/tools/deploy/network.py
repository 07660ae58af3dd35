"""NetworkPolicies from system.toml's edges: deny everything, then allow exactly what is declared.

- every pod: DNS to the cluster resolver;
- a service: ingress from each service that lists it in `calls` (the gateway also
  from the Gateway API data plane), from Prometheus on its port; egress to each
  service it calls, to PostgreSQL if it has a database, to NATS if it publishes
  or consumes events (events travel through NATS, so an event edge is the
  publisher's and the consumers' way to NATS, and nothing else);
- PostgreSQL and NATS: ingress only from the services that need them.

`call_edges` and `event_services` are what the policy check compares with.
"""

from __future__ import annotations

from typing import Any

from msa.system import System
from msa.tools.deploy.workloads import APP_LABEL, labels

POSTGRES_PORT = 5432
NATS_PORT = 4222
DATABASE_CLUSTER = "bookstore-db"
"""The CloudNativePG Cluster (and, in the dev overlay, the plain PostgreSQL pod)."""
DATABASE_SELECTOR = {"cnpg.io/cluster": DATABASE_CLUSTER}
NATS_SELECTOR = {APP_LABEL: "nats"}
MONITORING_NAMESPACE = "monitoring"
GATEWAY_NAMESPACE_LABEL = "gateway-access"
"""Namespaces labelled `gateway-access: "true"` (the Gateway's data plane) may reach the edge."""


def call_edges(system: System) -> set[tuple[str, str]]:
    """(caller, callee) of every declared HTTP call."""
    return {(svc.name, callee) for svc in system.services.values() for callee in svc.calls}


def event_services(system: System) -> set[str]:
    """The services that publish or consume events: the only ones that reach NATS."""
    return {svc.name for svc in system.services.values() if svc.publishes or svc.consumes}


def _pods(name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {APP_LABEL: name}}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"port": port, "protocol": "TCP"}]


def _policy(system: System, name: str, selector: dict[str, str], ingress: list[dict[str, Any]],
            egress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels(system, name, "network-policy")},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": ingress, "egress": egress},
    }


def default_policies(system: System) -> list[dict[str, Any]]:
    """Deny all traffic in the namespace, then allow DNS to every pod."""
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "labels": labels(system, "default-deny",
                                                               "network-policy")},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-dns", "labels": labels(system, "allow-dns",
                                                            "network-policy")},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
             "to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "kube-system"}},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
             "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}},
    ]


def service_policies(system: System) -> list[dict[str, Any]]:
    """One policy per service: its declared callers in, its declared callees and stores out."""
    policies = []
    with_events = event_services(system)
    for svc in system.services.values():
        callers = sorted(caller for caller, callee in call_edges(system) if callee == svc.name)
        ingress: list[dict[str, Any]] = []
        if callers:
            ingress.append({"from": [_pods(caller) for caller in callers],
                            "ports": _tcp(svc.port)})
        if svc.name == system.system.gateway:
            ingress.append({"from": [{"namespaceSelector": {"matchLabels": {
                GATEWAY_NAMESPACE_LABEL: "true"}}}], "ports": _tcp(svc.port)})
        ingress.append({"from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}], "ports": _tcp(svc.port)})
        egress: list[dict[str, Any]] = [
            {"to": [_pods(callee)], "ports": _tcp(system.services[callee].port)}
            for callee in sorted(svc.calls)]
        if svc.database:
            egress.append({"to": [{"podSelector": {"matchLabels": DATABASE_SELECTOR}}],
                           "ports": _tcp(POSTGRES_PORT)})
        if svc.name in with_events:
            egress.append({"to": [{"podSelector": {"matchLabels": NATS_SELECTOR}}],
                           "ports": _tcp(NATS_PORT)})
        policies.append(_policy(system, svc.name, {APP_LABEL: svc.name}, ingress, egress))
    return policies


def store_policies(system: System) -> list[dict[str, Any]]:
    """PostgreSQL and NATS accept only the services that use them (and their own peers)."""
    with_database = sorted(svc.name for svc in system.with_database())
    database_in = [{"from": [_pods(name) for name in with_database],
                    "ports": _tcp(POSTGRES_PORT)},
                   {"from": [{"podSelector": {"matchLabels": DATABASE_SELECTOR}}]},
                   {"from": [{"namespaceSelector": {"matchLabels": {
                       "kubernetes.io/metadata.name": "cnpg-system"}}}]},
                   {"from": [{"namespaceSelector": {"matchLabels": {
                       "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}]}]
    database_out = [{"to": [{"podSelector": {"matchLabels": DATABASE_SELECTOR}}]},
                    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],  # the API server
                     "ports": _tcp(443) + _tcp(6443)}]
    nats_in = [{"from": [_pods(name) for name in sorted(event_services(system))],
                "ports": _tcp(NATS_PORT)},
               {"from": [{"podSelector": {"matchLabels": NATS_SELECTOR}}],
                "ports": _tcp(6222)},
               {"from": [{"namespaceSelector": {"matchLabels": {
                   "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}],
                "ports": _tcp(8222)}]
    nats_out = [{"to": [{"podSelector": {"matchLabels": NATS_SELECTOR}}], "ports": _tcp(6222)}]
    return [_policy(system, "postgres", DATABASE_SELECTOR, database_in, database_out),
            _policy(system, "nats", NATS_SELECTOR, nats_in, nats_out)]


def policies(system: System) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the system."""
    return [*default_policies(system), *service_policies(system), *store_policies(system)]
