"""No secret lives in the repository: keys and passwords are made on first `msa up`.

Scans every file git tracks (or would track: new files not ignored) for private keys,
JWT-looking strings and passwords written into configuration or code. The few
test passwords for throw-away users are listed below with the reason.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHES = "-" * 5  # spelled out so that this file does not match its own rule
RULES = {
    "private key": re.compile(DASHES + r"BEGIN [A-Z ]*PRIVATE KEY" + DASHES),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    "cloud access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
}
CONFIG_SECRET = re.compile(
    r"""(?i)\b[\w.-]*(passw(or)?d|secret|token|api_?key|credential)s?\s*[=:]\s*["'][^"'\s]{3,}["']""")
CODE_SECRET = re.compile(r"""(?i)\b\w*(passw(or)?d|secret|api_?key)\w*\s*=\s*["'][^"']{3,}["']""")
CONFIG_SUFFIXES = {".toml", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".env", ".json"}
ALLOWED = {
    "tests/shop.py": "the password of the tests' throw-away customers",
    "bench/ours.py": "the password of the benchmark's throw-away customers",
    "bench/peers/launch.py": "the superuser password of a peer's throw-away PostgreSQL",
    "bench/login_flood.py": "the password of the flood benchmark's throw-away customer",
    "platform/tests/test_log_redaction.py": "a made-up JWT the redaction must hide",
    "services/identity/tests/integration/test_login_abuse.py": "a test user's password",
    "services/bookstore/src/bookstore/workload.py": "the chaos workload's throw-away customers",
    "services/identity/tests/integration/test_identity_api.py": "a test user's password",
}


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def findings(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # binary files hold no readable secret
    found = [name for name, rule in RULES.items() if rule.search(text)]
    secrets = CONFIG_SECRET if path.suffix in CONFIG_SUFFIXES else (
        CODE_SECRET if path.suffix == ".py" else None)
    if secrets is not None:
        found += [f"secret assigned: {m.group(0)[:60]}" for m in secrets.finditer(text)]
    return found


def test_no_tracked_file_holds_a_key_a_token_or_a_password():
    files = repository_files()
    assert len(files) > 100
    problems = {}
    for path in files:
        name = str(path.relative_to(ROOT))
        found = findings(path)
        if found and name not in ALLOWED:
            problems[name] = found
    assert not problems, problems


def test_the_allow_list_holds_only_files_that_still_need_it():
    stale = [name for name in ALLOWED if not (ROOT / name).exists()
             or not findings(ROOT / name)]
    assert not stale, f"remove from ALLOWED: {stale}"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path):
    word, jwt_head = "pass" + "word", "ey" + "J"  # built here, so that this file stays clean
    samples = {
        "key.pem": f"{DASHES}BEGIN PRIVATE KEY{DASHES}\nMC4CAQAwBQYDK2VwBCIEI\n",
        "token.txt": f"{jwt_head}hbGciOiJFZERTQSJ9.{jwt_head}zdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
                     "c2lnbmF0dXJl",
        "app.toml": f'[db]\n{word} = "hunter2hunter2"\n',
        "settings.py": f'ADMIN_{word.upper()} = "correct horse"\n',
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
        assert findings(tmp_path / name), name
    (tmp_path / "ok.py").write_text('TOKEN_TYPE = "at+jwt"\npassword = read_secret()\n')
    assert not findings(tmp_path / "ok.py")


def test_the_data_folder_with_generated_secrets_is_never_tracked():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".msa/secrets/services/gateway.pem"],
                             cwd=ROOT)
    assert ignored.returncode == 0
