"""Grafana dashboards as JSON, generated from system.toml.

Five dashboards: the system overview, RED per service (a service picker listing
system.toml's services), one journey per SLO (its route, burn rates, sagas and
business counters), sagas, and messaging. Every query names only metrics that
`msa` services export (or the SLO recording rules); a test checks this against
a running system's `/metrics`.
"""

from __future__ import annotations

from typing import Any

from msa.system import Slo, System
from msa.tools.monitoring.rules import error_ratio, selector, slow_ratio

RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(title: str, *queries: tuple[str, str], unit: str = "short",
           kind: str = "timeseries", width: int = 12) -> dict[str, Any]:
    return {
        "type": kind, "title": title, "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": DATASOURCE} for i, (expr, legend) in enumerate(queries)],
    }


def _dashboard(system: System, uid: str, title: str, panels: list[dict[str, Any]],
               variables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    x = y = 0
    for number, panel in enumerate(panels, start=1):
        width = panel["gridPos"]["w"]
        if x + width > 24:
            x, y = 0, y + 8
        panel["id"] = number
        panel["gridPos"].update({"x": x, "y": y})
        x += width
    source = {"name": "datasource", "type": "datasource", "query": "prometheus",
              "label": "Data source"}
    return {
        "uid": f"{system.system.name}-{uid}", "title": f"{system.system.name}: {title}",
        "tags": ["msa", system.system.name], "timezone": "utc", "schemaVersion": 39,
        "editable": False, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [source, *(variables or [])]}, "panels": panels,
    }


def _quantile(q: float, metric: str, by: str, where: str = "") -> str:
    return (f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({metric}_bucket{{{where}}}[{RATE}])))")


def overview(system: System) -> dict[str, Any]:
    return _dashboard(system, "overview", "system overview", [
        _panel("Instances up", ("sum by (job) (up)", "{{job}}"), kind="stat", width=24),
        _panel("Requests per second",
               (f"sum by (service) (rate(msa_http_requests_total[{RATE}]))", "{{service}}"),
               unit="reqps"),
        _panel("Share of 5xx answers", (
            f'sum by (service) (rate(msa_http_requests_total{{status=~"5.."}}[{RATE}])) / '
            f"sum by (service) (rate(msa_http_requests_total[{RATE}]))", "{{service}}"),
            unit="percentunit"),
        _panel("p99 latency", (_quantile(0.99, "msa_http_request_duration_seconds", "service"),
                               "{{service}}"), unit="s"),
        _panel("Circuit breakers (0 closed, 1 half-open, 2 open)",
               ("max by (service, target) (msa_circuit_breaker_state)",
                "{{service}} → {{target}}")),
        _panel("Oldest unpublished event",
               ("max by (service) (msa_outbox_oldest_unpublished_seconds)", "{{service}}"),
               unit="s"),
        _panel("Consumer backlog",
               ("max by (consumer) (msa_consumer_pending_messages)", "{{consumer}}")),
        _panel("Sagas in flight", ("sum by (service, saga) (msa_sagas_in_flight)",
                                   "{{service}} {{saga}}")),
        _panel("Dead letters (15 min)",
               ("sum by (consumer) (increase(msa_dead_letters_total[15m]))", "{{consumer}}")),
        _panel("Builds", ("msa_build_info", "{{service}} {{version}} {{git_sha}}"),
               kind="table", width=24),
    ])


def service_red(system: System) -> dict[str, Any]:
    where = 'service="$service"'
    picker = {"name": "service", "type": "custom", "label": "Service",
              "query": ",".join(system.services),
              "current": {"text": system.system.gateway, "value": system.system.gateway},
              "options": [{"text": name, "value": name, "selected": name == system.system.gateway}
                          for name in system.services]}
    return _dashboard(system, "service", "service RED", [
        _panel("Requests per second by route", (
            f"sum by (method, route) (rate(msa_http_requests_total{{{where}}}[{RATE}]))",
            "{{method}} {{route}}"), unit="reqps"),
        _panel("Errors per second by route and status", (
            f'sum by (route, status) (rate(msa_http_requests_total{{{where}, status=~"5.."}}'
            f"[{RATE}]))", "{{route}} {{status}}"), unit="reqps"),
        _panel("Latency by route (p50, p99)",
               (_quantile(0.5, "msa_http_request_duration_seconds", "route", where),
                "p50 {{route}}"),
               (_quantile(0.99, "msa_http_request_duration_seconds", "route", where),
                "p99 {{route}}"), unit="s"),
        _panel("Requests in flight",
               (f"sum(msa_http_requests_in_flight{{{where}}})", "in flight")),
        _panel("Outbound calls by target and outcome", (
            f"sum by (target, outcome) (rate(msa_client_requests_total{{{where}}}[{RATE}]))",
            "{{target}} {{outcome}}"), unit="reqps"),
        _panel("Outbound p99 by target", (
            _quantile(0.99, "msa_client_request_duration_seconds", "target", where),
            "{{target}}"), unit="s"),
        _panel("Calls not sent (breaker, bulkhead, budget, deadline)", (
            f"sum by (target, reason) (rate(msa_client_rejected_total{{{where}}}[{RATE}]))",
            "{{target}} {{reason}}"), unit="reqps"),
        _panel("Circuit breakers (0 closed, 1 half-open, 2 open)",
               (f"max by (target) (msa_circuit_breaker_state{{{where}}})", "{{target}}")),
        _panel("Database pool", (f"sum(msa_db_pool_checked_out{{{where}}})", "in use"),
               (f"max(msa_db_pool_size{{{where}}})", "size")),
    ], [picker])


def journey(system: System, slo: Slo) -> dict[str, Any]:
    where = selector(slo)
    panels = [
        _panel(f"{slo.method} {slo.route} per second by status", (
            f"sum by (status) (rate(msa_http_requests_total{{{where}}}[{RATE}]))",
            "{{status}}"), unit="reqps"),
        _panel("Share of 5xx answers vs objective",
               (error_ratio(slo, "5m"), "5 m"), (error_ratio(slo, "1h"), "1 h"),
               (f"vector({1 - slo.availability:.6g})", "budget"), unit="percentunit"),
        _panel("Latency (p50, p95, p99)",
               *[(_quantile(q, "msa_http_request_duration_seconds", "route", where), f"p{p}")
                 for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))],
               (f"vector({slo.latency:g})", "objective"), unit="s"),
        _panel("Share slower than the objective",
               (slow_ratio(slo, "5m"), "5 m"), (slow_ratio(slo, "1h"), "1 h"),
               (f"vector({1 - slo.latency_target:.6g})", "budget"), unit="percentunit"),
        _panel("Sagas ended by status", (
            f'sum by (saga, status) (rate(msa_sagas_ended_total{{service="{slo.service}"}}'
            f"[{RATE}]))", "{{saga}} {{status}}"), unit="ops"),
        _panel("Saga step p95", (_quantile(0.95, "msa_saga_step_duration_seconds", "step",
                                           f'service="{slo.service}"'), "{{step}}"), unit="s"),
    ]
    for metric in slo.business_metrics:
        panels.append(_panel(f"{metric} per minute",
                             (f"sum(rate({metric}[{RATE}])) * 60", metric), width=6))
    return _dashboard(system, f"journey-{slo.name}", f"{slo.name} journey", panels)


def sagas(system: System) -> dict[str, Any]:
    return _dashboard(system, "sagas", "sagas", [
        _panel("Started per second", (
            f"sum by (service, saga) (rate(msa_sagas_started_total[{RATE}]))", "{{saga}}"),
            unit="ops"),
        _panel("Ended per second by status", (
            f"sum by (saga, status) (rate(msa_sagas_ended_total[{RATE}]))",
            "{{saga}} {{status}}"), unit="ops"),
        _panel("In flight (driven now)", ("sum by (saga) (msa_sagas_in_flight)", "{{saga}}")),
        _panel("Not yet ended (database)", ("max by (saga) (msa_sagas_active)", "{{saga}}")),
        _panel("Oldest not yet ended", ("max by (saga) (msa_saga_oldest_active_seconds)",
                                         "{{saga}}"), unit="s"),
        _panel("Step p95 by step and direction", (
            _quantile(0.95, "msa_saga_step_duration_seconds", "step, direction"),
            "{{step}} {{direction}}"), unit="s"),
        _panel("Step attempts by outcome", (
            f"sum by (step, outcome) (rate(msa_saga_step_duration_seconds_count[{RATE}]))",
            "{{step}} {{outcome}}"), unit="ops", width=24),
    ])


def messaging(system: System) -> dict[str, Any]:
    return _dashboard(system, "messaging", "messaging", [
        _panel("Unpublished outbox rows", ("max by (service) (msa_outbox_unpublished)",
                                            "{{service}}")),
        _panel("Oldest unpublished event",
               ("max by (service) (msa_outbox_oldest_unpublished_seconds)", "{{service}}"),
               unit="s"),
        _panel("Consumer backlog (not yet delivered)",
               ("max by (consumer) (msa_consumer_pending_messages)", "{{consumer}}")),
        _panel("Delivered, not yet acknowledged",
               ("max by (consumer) (msa_consumer_ack_pending_messages)", "{{consumer}}")),
        _panel("Dead letters (15 min)",
               ("sum by (consumer) (increase(msa_dead_letters_total[15m]))", "{{consumer}}"),
               width=24),
    ])


def dashboards(system: System) -> dict[str, dict[str, Any]]:
    """file stem → dashboard JSON."""
    found = {"overview": overview(system), "service": service_red(system),
             "sagas": sagas(system), "messaging": messaging(system)}
    for slo in system.slos.values():
        found[f"journey-{slo.name}"] = journey(system, slo)
    return found
