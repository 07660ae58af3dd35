"""Monitoring as code: Prometheus configuration, alert rules and Grafana dashboards.

Generated from system.toml by `msa docs` into `deploy/monitoring/` (and checked
for staleness with the other generated documents):

- `prometheus.yml`: one scrape job per service (`msa.tools.monitoring.prometheus`);
- `alerts.yml`: SLO burn-rate alerts and platform alerts (`msa.tools.monitoring.rules`);
- `dashboards/*.json`: Grafana dashboards (`msa.tools.monitoring.dashboards`).

At run time `msa.gauges` keeps the lag gauges fresh in every service,
and `PrometheusServer` runs a real Prometheus for `msa up --with-prometheus`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from msa.system import System

FOLDER = Path("deploy") / "monitoring"


def documents(system: System) -> list[tuple[Path, str]]:
    """(path, text) of every generated monitoring file, paths under the repository root."""
    from msa.tools.monitoring.dashboards import dashboards
    from msa.tools.monitoring.prometheus import scrape_config
    from msa.tools.monitoring.render import to_yaml
    from msa.tools.monitoring.rules import rule_groups

    folder = system.root / FOLDER
    found = [
        (folder / "prometheus.yml", to_yaml(scrape_config(system, token_file=os.path.relpath(
            system.root / system.local.data_dir / "secrets" / "metrics.token", folder)))),
        (folder / "alerts.yml", to_yaml(rule_groups(system))),
    ]
    for stem, board in dashboards(system).items():
        found.append((folder / "dashboards" / f"{stem}.json",
                      json.dumps(board, indent=2, ensure_ascii=False) + "\n"))
    return found
