"""Monitoring as code: the generated rules pass promtool and fire when they should;
dashboards are well-formed; the PromQL reader finds the metric names."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import load_system
from msa.tools.monitoring import documents
from msa.tools.monitoring.dashboards import dashboards
from msa.tools.monitoring.prometheus import scrape_config, targets_of
from msa.tools.monitoring.promql import metric_names
from msa.tools.monitoring.render import to_yaml
from msa.tools.monitoring.rules import rule_groups

ROOT = Path(__file__).parents[2]
SYSTEM = load_system(ROOT / "system.toml")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package `prometheus`)")
CHECKOUT = 'service="orders",method="POST",route="/api/orders/checkout"'


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_every_alert_rule_passes_promtool(tmp_path):
    rules = tmp_path / "alerts.yml"
    rules.write_text(to_yaml(rule_groups(SYSTEM)))
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_the_committed_prometheus_config_passes_promtool(tmp_path):
    # promtool also checks that the token file the config names exists; `msa up` writes it
    # under .msa/secrets, so the committed files are checked in a copy of the tree that has one.
    monitoring = tmp_path / "deploy" / "monitoring"
    shutil.copytree(ROOT / "deploy" / "monitoring", monitoring)
    secrets = tmp_path / ".msa" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "metrics.token").write_text("a-token-for-the-check\n")
    checked = promtool("check", "config", str(monitoring / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _alerts(name: str) -> list[dict]:
    return [rule for group in rule_groups(SYSTEM)["groups"] for rule in group["rules"]
            if rule.get("alert") == name]


def _expected(name: str, severity: str) -> dict:
    rule = next(rule for rule in _alerts(name) if rule["labels"]["severity"] == severity)
    return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}


def _series(status: str, per_minute: int) -> dict:
    return {"series": f'msa_http_requests_total{{{CHECKOUT},status="{status}"}}',
            "values": f"0+{per_minute}x200"}


@needs_promtool
def test_the_checkout_burn_rate_alert_pages_on_a_burst_of_errors_not_on_a_trickle(tmp_path):
    (tmp_path / "alerts.yml").write_text(to_yaml(rule_groups(SYSTEM)))
    burst = {"interval": "1m", "input_series": [_series("201", 50), _series("503", 50)],
             "alert_rule_test": [{"eval_time": "70m", "alertname": "CheckoutErrorsBudgetBurn",
                                  "exp_alerts": [_expected("CheckoutErrorsBudgetBurn", "page"),
                                                 _expected("CheckoutErrorsBudgetBurn", "ticket")]}]}
    trickle = {"interval": "1m", "input_series": [_series("201", 995), _series("503", 5)],
               "alert_rule_test": [{"eval_time": "70m", "alertname": "CheckoutErrorsBudgetBurn",
                                    "exp_alerts": []}]}
    stuck = {"interval": "1m", "input_series": [
        {"series": 'msa_saga_oldest_active_seconds{service="orders",saga="checkout"}',
         "values": "400x10"},
        {"series": 'up{job="wallet",instance="127.0.0.1:8107"}', "values": "0x10"}],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "SagasStuck", "exp_alerts": [{
                "exp_labels": {"severity": "page", "service": "orders", "saga": "checkout"},
                "exp_annotations": {"summary": "orders: a checkout saga has run over 5 minutes"}}]},
            {"eval_time": "5m", "alertname": "ServiceDown", "exp_alerts": [{
                "exp_labels": {"severity": "page", "job": "wallet"},
                "exp_annotations": {"summary": "wallet: no instance answers scrapes"}}]}]}
    tests = tmp_path / "tests.yml"
    tests.write_text(json.dumps({"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
                                 "tests": [burst, trickle, stuck]}))
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_latency_objective_off_the_histogram_buckets_is_a_config_error(tmp_path):
    text = (ROOT / "system.toml").read_text().replace("latency = 2.5 ", "latency = 2.0 ")
    path = tmp_path / "system.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"slos\.checkout\.latency: 2 s is not a histogram"):
        rule_groups(load_system(path))


def test_an_slo_on_an_unknown_service_is_rejected(tmp_path):
    text = (ROOT / "system.toml").read_text().replace('service = "orders"\nmethod = "POST"',
                                                      'service = "billing"\nmethod = "POST"')
    path = tmp_path / "system.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"slos\.checkout\.service: unknown service 'billing'"):
        load_system(path)


def test_dashboards_have_unique_panels_with_queries_on_a_24_column_grid():
    boards = dashboards(SYSTEM)
    assert {"overview", "service", "sagas", "messaging", "journey-checkout"} <= set(boards)
    for board in boards.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            assert panel["targets"] and all(metric_names(t["expr"]) or "vector(" in t["expr"]
                                            for t in panel["targets"])
    picker = boards["service"]["templating"]["list"][1]
    assert [option["value"] for option in picker["options"]] == list(SYSTEM.services)


def test_the_journey_dashboard_charts_the_business_counters():
    board = dashboards(SYSTEM)["journey-checkout"]
    charted = {name for panel in board["panels"] for target in panel["targets"]
               for name in metric_names(target["expr"])}
    assert {"orders_confirmed_total", "wallet_topups_total"} <= charted


def test_the_scrape_config_has_a_job_per_service_and_one_for_a_monolith():
    jobs = {job["job_name"]: job for job in scrape_config(SYSTEM)["scrape_configs"]}
    assert set(jobs) == set(SYSTEM.services)
    assert jobs["orders"]["static_configs"][0]["targets"] == ["127.0.0.1:8105", "127.0.0.1:8106"]
    shared = {name: ["http://127.0.0.1:9000", f"http://127.0.0.1:9000/_svc/{name}"][:1]
              for name in SYSTEM.services}
    assert targets_of(shared) == {"monolith": ["127.0.0.1:9000"]}


def test_the_generated_files_live_under_deploy_monitoring():
    paths = [path.relative_to(ROOT).as_posix() for path, _ in documents(SYSTEM)]
    assert "deploy/monitoring/alerts.yml" in paths
    assert "deploy/monitoring/dashboards/journey-checkout.json" in paths


def test_metric_names_skips_functions_labels_ranges_and_grouping():
    expr = ('histogram_quantile(0.99, sum by (service, le) (rate(msa_x_bucket{route="/a b"}'
            '[$__rate_interval]))) / ignoring(le) msa_y offset 5m and on(job) up == bool 0')
    assert metric_names(expr) == {"msa_x_bucket", "msa_y", "up"}
    assert metric_names("slo:checkout_errors:ratio_rate5m > (14.4 * 0.01)") == {
        "slo:checkout_errors:ratio_rate5m"}


@needs_promtool
def test_checkout_sagas_given_up_on_a_deadline_burn_the_budget_and_refusals_do_not(tmp_path):
    (tmp_path / "alerts.yml").write_text(to_yaml(rule_groups(SYSTEM)))
    saga = 'service="orders",saga="checkout"'

    def case(cause: str, expected: list[dict]) -> dict:
        return {"interval": "1m", "input_series": [
            {"series": f"msa_sagas_started_total{{{saga}}}", "values": "0+100x200"},
            {"series": f'msa_saga_step_failures_total{{{saga},step="debit_wallet",'
                       f'cause="{cause}"}}', "values": "0+40x200"}],
            "alert_rule_test": [{"eval_time": "70m", "alertname": "CheckoutSagaFailuresBudgetBurn",
                                 "exp_alerts": expected}]}

    burning = [_expected("CheckoutSagaFailuresBudgetBurn", "page"),
               _expected("CheckoutSagaFailuresBudgetBurn", "ticket")]
    tests = tmp_path / "tests.yml"
    tests.write_text(json.dumps({"rule_files": ["alerts.yml"], "evaluation_interval": "1m",
                                 "tests": [case("deadline", burning), case("refused", [])]}))
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
