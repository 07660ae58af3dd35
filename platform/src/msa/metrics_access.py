"""`/metrics` on the public port: for the operator's scraper only.

Every service's `/metrics` is on its internal address, but the public edge (the
gateway, and the monolith's one port) faces clients: there `/metrics` needs
`Authorization: Bearer <token>`, the token kept in `<data dir>/secrets/metrics.token`
(mode 0600; created outside production, mounted in production). The generated
Prometheus configuration reads the same file (`credentials_file`).
"""

from __future__ import annotations

import atexit
import functools
import hmac
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from msa.errors import ConfigError
from msa.metrics import metrics_response
from msa.problems import problem_response

TOKEN_PARTS = ("secrets", "metrics.token")


def token_file(data_dir: str | Path) -> Path:
    return Path(data_dir).joinpath(*TOKEN_PARTS)


def ensure_token(data_dir: str | Path) -> str:
    """The scrape token, created (mode 0600) if missing."""
    path = token_file(data_dir)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(temporary, path)  # the first writer wins; the others read its token
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text(encoding="utf-8").strip()


def scrape_headers(data_dir: str | Path) -> dict[str, str]:
    """What a scraper sends to the public edge's `/metrics`."""
    return {"Authorization": f"Bearer {ensure_token(data_dir)}"}


@functools.cache
def _process_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="msa-metrics-token-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def operator_metrics(data_dir: str | None, *, production: bool):  # type: ignore[no-untyped-def]
    """A `/metrics` endpoint that answers only the bearer of the scrape token."""
    if not data_dir:
        if production:
            raise ConfigError("setting MSA_DATA_DIR is missing (the metrics token lives there)")
        data_dir = str(_process_folder())  # an app built in a test: a token of its own
    if production and not token_file(data_dir).exists():
        raise ConfigError(f"{token_file(data_dir)} is missing (the scrape token of /metrics)")
    expected = f"Bearer {ensure_token(data_dir)}".encode()

    def guarded(request: Request) -> Response:
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            response = problem_response(401, "Unauthorized", "metrics are for the operator's "
                                        "scraper: send the scrape token", request.url.path)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return metrics_response(request)

    return guarded
