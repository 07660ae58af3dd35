"""Settings come from the environment, are validated at start and fail in one line."""

import pytest

from msa.errors import ConfigError
from msa.settings import load_settings

URL = "postgresql://wallet:s3cr3t-Xy@127.0.0.1:5432/wallet"


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MSA_DATABASE_URL", URL)
    monkeypatch.setenv("MSA_PORT", "8107")
    monkeypatch.setenv("MSA_ADDRESSES", '{"ledger": ["http://127.0.0.1:8108"]}')
    settings = load_settings("wallet")
    assert settings.port == 8107
    assert settings.addresses == {"ledger": ["http://127.0.0.1:8108"]}
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL
    assert "s3cr3t" not in repr(settings)


def test_the_monolith_gives_each_service_its_own_database(monkeypatch):
    monkeypatch.setenv("MSA_DATABASE_URL", URL)
    monkeypatch.setenv("MSA_DATABASE_URL_LEDGER", URL.replace("wallet", "ledger"))
    assert "ledger" in load_settings("ledger").database_url.get_secret_value()


@pytest.mark.parametrize("url", [
    "postgresql://wallet@127.0.0.1/wallet",
    "postgresql://wallet:changeme@127.0.0.1/wallet",
    "postgresql://wallet:password@127.0.0.1/wallet",
])
def test_a_missing_or_placeholder_password_stops_the_service(monkeypatch, url):
    monkeypatch.setenv("MSA_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="MSA_DATABASE_URL has a missing or placeholder password"):
        load_settings("wallet")


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("MSA_PORT", "eighty")
    with pytest.raises(ConfigError, match="MSA_PORT"):
        load_settings("wallet")


def test_fault_hooks_are_refused_in_production(monkeypatch):
    monkeypatch.setenv("MSA_ENV", "production")
    monkeypatch.setenv("MSA_FAULTS", "saga.debit_wallet.done")
    with pytest.raises(ConfigError, match="fault hooks cannot be enabled in production"):
        load_settings("wallet")
