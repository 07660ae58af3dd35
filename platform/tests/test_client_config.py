"""Per-edge resilience settings in system.toml: defaults, and bad values refused at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from msa.errors import ConfigError
from msa.system import Edge, load_system

ROOT = Path(__file__).parents[2]


def with_edge(tmp_path: Path, edge_text: str) -> Path:
    """system.toml with one more edge section (orders' calls have none of their own)."""
    path = tmp_path / "system.toml"
    path.write_text((ROOT / "system.toml").read_text() + "\n" + edge_text)
    return path


def test_edges_have_sane_defaults_and_system_toml_tunes_the_book_page_parts():
    edge = Edge()
    assert (edge.timeout, edge.retries, edge.retry_budget) == (5.0, 2, 0.2)
    assert 0 < edge.breaker_failure_ratio <= 1 and edge.breaker_open_seconds > 0
    reviews = load_system(ROOT / "system.toml").service("gateway").edge("reviews")
    assert reviews.timeout == 1.0 and reviews.breaker_min_calls == 5


@pytest.mark.parametrize(("edge_text", "message"), [
    ("[services.orders.edges.wallet]\ntimeout = -1.0\n",
     "services.orders.edges.wallet.timeout: Input should be greater than 0"),
    ("[services.orders.edges.wallet]\nbreaker_failure_ratio = 1.5\n",
     "services.orders.edges.wallet.breaker_failure_ratio: Input should be less than or "
     "equal to 1"),
    ("[services.orders.edges.wallet]\nretries = -1\n",
     "services.orders.edges.wallet.retries: Input should be greater than or equal to 0"),
    ("[services.orders.edges.wallet]\nmax_concurrent = 0\n",
     "services.orders.edges.wallet.max_concurrent: Input should be greater than 0"),
    ("[services.orders.edges.wallet]\nbreaker_open_seconds = 0\n",
     "services.orders.edges.wallet.breaker_open_seconds: Input should be greater than 0"),
    ("[services.orders.edges.wallet]\ntimeout_s = 1\n",
     "services.orders.edges.wallet.timeout_s: unknown key"),
    ("[services.orders.edges.reviews]\ntimeout = 1.0\n",
     "services.orders.edges.reviews: not in services.orders.calls"),
])
def test_bad_edge_settings_are_one_line_naming_the_key(tmp_path, edge_text, message):
    with pytest.raises(ConfigError) as caught:
        load_system(with_edge(tmp_path, edge_text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_service_with_a_bad_edge_refuses_to_start_with_one_line(tmp_path):
    path = with_edge(tmp_path, "[services.orders.edges.wallet]\ntimeout = -1.0\n")
    env = {**os.environ, "MSA_SYSTEM_FILE": str(path), "MSA_SERVICE": "gateway",
           "MSA_ENV": "test", "MSA_PORT": "0"}
    started = subprocess.run([sys.executable, "-m", "msa.serve", "gateway"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "edges.wallet.timeout: Input should be greater than 0" in lines[0]


def test_msa_up_refuses_a_bad_edge_before_starting_anything(tmp_path):
    path = with_edge(tmp_path, "[services.orders.edges.wallet]\nbreaker_failure_ratio = 2\n")
    result = subprocess.run([sys.executable, "-m", "msa.tools.cli", "--system", str(path), "up",
                             "--data-dir", str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "edges.wallet.breaker_failure_ratio" in result.stderr
    assert not (tmp_path / "data" / "postgres").exists()
