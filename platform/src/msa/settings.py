"""Typed settings of a service process, read from the environment and validated at start.

The runner (`msa up`), Kubernetes manifests and tests all start a service the same
way: `python -m msa.serve SERVICE` with these variables set.

| variable | meaning |
|---|---|
| MSA_SERVICE | the service's name in system.toml |
| MSA_INSTANCE | this replica's name, e.g. `orders-1` |
| MSA_ENV | `dev`, `test` or `production` (fault hooks never work in production) |
| MSA_HOST / MSA_PORT | where to listen (127.0.0.1 locally) |
| MSA_SYSTEM_FILE | path of system.toml |
| MSA_DATABASE_URL | this service's database (`postgresql://role:password@host:port/db`) |
| MSA_DATABASE_URL_<SERVICE> | per-service database in monolith mode |
| MSA_NATS_URL | the NATS server |
| MSA_ADDRESSES | JSON `{"service": ["http://host:port", ...]}`; default: system.toml ports |
| MSA_DATA_DIR | the local data folder (secrets, keys) |
| MSA_TRACING / MSA_TRACE_BUFFER | spans on (default) or off; how many finished spans to keep |
| MSA_OTLP_ENDPOINT | also export spans to this OTLP/HTTP collector (needs the exporter package) |
| MSA_HEADER_TIMEOUT | seconds a connection may take to send a request's headers (default 10) |
| MSA_MAX_CONNECTIONS | connections (and requests in flight) a process serves at once; 503 past it |
"""

from __future__ import annotations

import json
import os
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from msa.errors import ConfigError

DB_POOL_SIZE = 25  # connections a service's pool keeps (msa.db.create_engine: no overflow)

PLACEHOLDERS = ("changeme", "change-me", "placeholder", "secret", "password", "xxx", "todo")


class ServiceSettings(BaseSettings):
    """Settings every service process has."""

    model_config = SettingsConfigDict(env_prefix="MSA_", extra="ignore", frozen=True)

    service: str
    instance: str = ""
    env: Literal["dev", "test", "production"] = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    system_file: str | None = None
    database_url: SecretStr | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    addresses: dict[str, list[str]] = Field(default_factory=dict)
    data_dir: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    shutdown_grace: float = Field(default=10.0, gt=0, le=300)
    header_timeout: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    db_pool_size: int = Field(default=DB_POOL_SIZE, ge=1, le=100)
    version: str = "0.1.0"
    git_sha: str = "unknown"
    faults: str = Field(default="", description="test-only fault points; refused in production")
    tracing: bool = Field(default=True, description="record spans (see msa.tracing)")
    trace_sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0,
        description="share of traces recorded where they start (a request without a "
                    "traceparent); the rest of a trace follows its start's decision")
    trace_buffer: int = Field(default=2048, ge=16, le=1_000_000,
                              description="finished spans kept per process")
    otlp_endpoint: str = Field(default="", description="OTLP/HTTP collector, e.g. http://host:4318")

    @field_validator("database_url")
    @classmethod
    def _no_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        from sqlalchemy.engine import make_url

        try:
            url = make_url(value.get_secret_value())
        except Exception:
            raise ValueError("is not a database URL") from None
        password = (url.password or "").lower()
        if not password or password in PLACEHOLDERS:
            raise ValueError("has a missing or placeholder password")
        return value

    @field_validator("faults")
    @classmethod
    def _faults_not_in_production(cls, value: str) -> str:
        if value and os.environ.get("MSA_ENV") == "production":
            raise ValueError("fault hooks cannot be enabled in production")
        return value

    @property
    def instance_name(self) -> str:
        return self.instance or self.service


def load_settings(service: str, **overrides: object) -> ServiceSettings:
    """Settings for `service` from the environment; ConfigError with one line if invalid.

    In monolith mode each service reads its own database from
    `MSA_DATABASE_URL_<SERVICE>` before falling back to `MSA_DATABASE_URL`.
    """
    values: dict[str, object] = {"service": service}
    specific = os.environ.get(f"MSA_DATABASE_URL_{service.upper()}")
    if specific:
        values["database_url"] = specific
    raw_addresses = os.environ.get("MSA_ADDRESSES")
    if raw_addresses:
        try:
            values["addresses"] = json.loads(raw_addresses)
        except json.JSONDecodeError:
            raise ConfigError("MSA_ADDRESSES: not valid JSON") from None
    values.update(overrides)
    try:
        return ServiceSettings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(item) for item in first["loc"]) or "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{service}: setting MSA_{field.upper()} {message}") from None
