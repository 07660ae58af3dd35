"""`python -m msa.serve`: bad settings end the process with one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MSA_")}
    return subprocess.run([sys.executable, "-m", "msa.serve", *args], text=True,
                          capture_output=True, timeout=60, cwd=ROOT,
                          env={**clean, "MSA_SYSTEM_FILE": str(ROOT / "system.toml"), **env})


def test_a_missing_database_url_is_one_line():
    done = serve("wallet", MSA_PORT="0")
    assert done.returncode == 2
    assert done.stderr.strip() == "msa.serve: wallet: setting MSA_DATABASE_URL is missing"


def test_a_placeholder_password_is_one_line():
    done = serve("wallet", MSA_DATABASE_URL="postgresql://wallet:changeme@127.0.0.1/wallet")
    assert done.returncode == 2
    assert "placeholder password" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_service_is_one_line():
    done = serve("ghost")
    assert done.returncode == 2
    assert "unknown service 'ghost'" in done.stderr and "Traceback" not in done.stderr


def test_a_malformed_system_file_is_one_line(tmp_path):
    broken = tmp_path / "system.toml"
    broken.write_text("[system\nname = 1\n")
    done = serve("wallet", MSA_SYSTEM_FILE=str(broken))
    assert done.returncode == 2
    assert str(broken) in done.stderr and done.stderr.strip().count("\n") == 0
