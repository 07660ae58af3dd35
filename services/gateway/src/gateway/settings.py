"""The gateway's own settings, from `GATEWAY_*` environment variables, checked at start.

| variable | default | meaning |
|---|---|---|
| GATEWAY_USER_RATE, _USER_BURST | 20, 60 | requests/s a signed-in user may make; at once |
| GATEWAY_IP_RATE, _IP_BURST | 200, 1000 | the same per client address (every request) |
| GATEWAY_LOGIN_RATE, _LOGIN_BURST | 1, 10 | sign-ins and registrations per address (a hash each) |
| GATEWAY_MAX_BODY | 1048576 | the largest request body in bytes (413 past it) |
| GATEWAY_CORS_ORIGINS | (none) | comma-separated origins browsers may call from |
"""

from __future__ import annotations

import re

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from msa import ConfigError

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")


class GatewaySettings(BaseSettings):
    """Rate limits, body size and the CORS allow-list."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    user_rate: float = Field(default=20.0, gt=0)
    user_burst: int = Field(default=60, ge=1)
    ip_rate: float = Field(default=200.0, gt=0)
    ip_burst: int = Field(default=1000, ge=1)
    login_rate: float = Field(default=1.0, gt=0)
    login_burst: int = Field(default=10, ge=1)
    max_body: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    cors_origins: str = ""

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: str) -> str:
        for origin in _split(value):
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example "
                                 "(no wildcards, paths or trailing slashes)")
        return value

    @property
    def origins(self) -> list[str]:
        """The allowed CORS origins (none by default)."""
        return _split(self.cors_origins)


def _split(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",") if item.strip()]


def load_gateway_settings() -> GatewaySettings:
    """The settings from the environment; ConfigError with one line if one is wrong."""
    try:
        return GatewaySettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GATEWAY_" + ".".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"gateway: setting {name} {first['msg']}") from None
