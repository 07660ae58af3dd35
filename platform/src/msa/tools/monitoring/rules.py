"""Prometheus recording and alert rules, generated from system.toml.

- Every `[slos.X]` gets multi-window, multi-burn-rate alerts (Google SRE
  workbook, ch. 5) for its error budget and its latency budget (and, when it
  names the `saga` its route starts, for sagas given up on a deadline: an order
  cancelled because the wallet did not answer is a failure the 201 hides): page when the
  budget burns 14.4× too fast over 1 h and 5 m, or 6× over 6 h and 30 m; open a
  ticket at 3× over 1 d and 2 h, or 1× over 3 d and 6 h. Recording rules
  compute the ratios once per window.
- Platform alerts for every service: service or instance down, outbox lag,
  consumer lag, sagas stuck, dead letters, circuit breakers open, database pool
  saturated.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.utils import floatToGoString

from msa.errors import ConfigError
from msa.metrics import LATENCY_BUCKETS
from msa.system import Slo, System

OUTBOX_LAG_SECONDS = 60
CONSUMER_LAG_MESSAGES = 1000
SAGA_STUCK_MINUTES = 5
POOL_SATURATION = 0.9

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, burn rate, long window, short window)
BURN_ALERTS = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 3.0, "1d", "2h"),
    ("ticket", 1.0, "3d", "6h"),
)


def selector(slo: Slo) -> str:
    """The label matchers of the SLO's route in the `msa_http_*` metrics."""
    return f'service="{slo.service}", method="{slo.method}", route="{slo.route}"'


def latency_bucket(slo: Slo) -> str:
    """The `le` label of the SLO's latency threshold; ConfigError if it is no bucket bound."""
    if slo.latency not in LATENCY_BUCKETS:
        known = ", ".join(f"{b:g}" for b in LATENCY_BUCKETS)
        raise ConfigError(f"slos.{slo.name}.latency: {slo.latency:g} s is not a histogram "
                          f"bucket bound (one of {known})")
    return floatToGoString(slo.latency)


def error_ratio(slo: Slo, window: str) -> str:
    """Recording rule name of the SLO's share of 5xx answers over `window`."""
    return f"slo:{slo.name}_errors:ratio_rate{window}"


def slow_ratio(slo: Slo, window: str) -> str:
    """Recording rule name of the SLO's share of answers slower than `latency`."""
    return f"slo:{slo.name}_slow:ratio_rate{window}"


def saga_failure_ratio(slo: Slo, window: str) -> str:
    """Recording rule name of the share of the SLO's sagas given up on a deadline."""
    return f"slo:{slo.name}_saga_failures:ratio_rate{window}"


def _saga_recording(slo: Slo) -> list[dict[str, Any]]:
    where = f'service="{slo.service}", saga="{slo.saga}"'
    return [{"record": saga_failure_ratio(slo, window), "expr": (
        f'sum(rate(msa_saga_step_failures_total{{{where}, cause="deadline"}}[{window}]))\n'
        f"/\nsum(rate(msa_sagas_started_total{{{where}}}[{window}]))")}
        for window in WINDOWS]


def _recording(slo: Slo) -> list[dict[str, Any]]:
    where = selector(slo)
    le = latency_bucket(slo)
    rules: list[dict[str, Any]] = []
    for window in WINDOWS:
        total = f"sum(rate(msa_http_requests_total{{{where}}}[{window}]))"
        rules.append({"record": error_ratio(slo, window), "expr": (
            f'sum(rate(msa_http_requests_total{{{where}, status=~"5.."}}[{window}]))\n'
            f"/\n{total}")})
        rules.append({"record": slow_ratio(slo, window), "expr": (
            f"1 - (\n"
            f'  sum(rate(msa_http_request_duration_seconds_bucket{{{where}, le="{le}"}}'
            f"[{window}]))\n  /\n"
            f"  sum(rate(msa_http_request_duration_seconds_count{{{where}}}[{window}]))\n)")})
    return rules


def _burn_alerts(slo: Slo) -> list[dict[str, Any]]:
    title = slo.name.replace("_", " ").title().replace(" ", "")
    alerts = []
    kinds = [
        ("Errors", error_ratio, 1 - slo.availability, "answers are 5xx"),
        ("Latency", slow_ratio, 1 - slo.latency_target, f"answers take over {slo.latency:g} s"),
    ]
    if slo.saga:
        kinds.append(("SagaFailures", saga_failure_ratio, 1 - slo.availability,
                      f"{slo.saga} sagas give a step up for want of an answer"))
    for kind, ratio, budget, what in kinds:
        for severity in ("page", "ticket"):
            clauses = [f"(\n  {ratio(slo, long)} > ({rate:g} * {budget:.6g})\n  and\n"
                       f"  {ratio(slo, short)} > ({rate:g} * {budget:.6g})\n)"
                       for sev, rate, long, short in BURN_ALERTS if sev == severity]
            alerts.append({
                "alert": f"{title}{kind}BudgetBurn",
                "expr": "\nor\n".join(clauses),
                "labels": {"severity": severity, "slo": slo.name, "service": slo.service},
                "annotations": {
                    "summary": f"{slo.name}: too many {what} ({severity})",
                    "description": f"{slo.description or slo.name}: {slo.method} {slo.route} "
                                   f"burns its error budget of {budget:.4g} too fast."},
            })
    return alerts


def _platform_alerts() -> list[dict[str, Any]]:
    def alert(name: str, expr: str, wait: str, severity: str, summary: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": wait, "labels": {"severity": severity},
                "annotations": {"summary": summary}}

    return [
        alert("ServiceDown", "sum by (job) (up) == 0", "1m", "page",
              "{{ $labels.job }}: no instance answers scrapes"),
        alert("InstanceDown", "up == 0", "2m", "ticket",
              "{{ $labels.instance }} of {{ $labels.job }} is down"),
        alert("OutboxLagging",
              f"max by (service) (msa_outbox_oldest_unpublished_seconds) > {OUTBOX_LAG_SECONDS}",
              "2m", "page", "{{ $labels.service }}: events wait over "
              f"{OUTBOX_LAG_SECONDS} s in the outbox"),
        alert("ConsumerLagging",
              "max by (service, consumer) (msa_consumer_pending_messages) "
              f"> {CONSUMER_LAG_MESSAGES}", "5m", "ticket",
              "{{ $labels.consumer }}: over " f"{CONSUMER_LAG_MESSAGES} messages behind"),
        alert("SagasStuck",
              "max by (service, saga) (msa_saga_oldest_active_seconds) "
              f"> {SAGA_STUCK_MINUTES * 60}", "1m", "page",
              "{{ $labels.service }}: a {{ $labels.saga }} saga has run over "
              f"{SAGA_STUCK_MINUTES} minutes"),
        alert("DeadLetters",
              "sum by (service, consumer) (increase(msa_dead_letters_total[15m])) > 0",
              "0m", "ticket", "{{ $labels.consumer }}: messages were dead-lettered "
              "(`msa dlq` lists and replays them)"),
        alert("CircuitBreakerOpen",
              "max by (service, target) (msa_circuit_breaker_state) == 2", "2m", "ticket",
              "{{ $labels.service }} → {{ $labels.target }}: circuit open"),
        alert("DatabasePoolSaturated",
              "max by (service) (msa_db_pool_checked_out / msa_db_pool_size) "
              f"> {POOL_SATURATION}", "5m", "ticket",
              "{{ $labels.service }}: database pool nearly exhausted"),
    ]


def rule_groups(system: System) -> dict[str, Any]:
    """The rule file: one group per SLO (recording rules and burn alerts), one for the platform."""
    groups: list[dict[str, Any]] = []
    for slo in system.slos.values():
        groups.append({"name": f"slo-{slo.name}", "interval": "30s",
                       "rules": [*_recording(slo), *(_saga_recording(slo) if slo.saga else []),
                                 *_burn_alerts(slo)]})
    groups.append({"name": f"{system.system.name}-platform", "rules": _platform_alerts()})
    return {"groups": groups}
