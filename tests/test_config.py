"""merchant.config: environment settings, URL normalisation, production checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from merchant.config import (
    ConfigurationError,
    Environment,
    LogFormat,
    Settings,
    libpq_url,
    sqlalchemy_url,
)

STRONG_URL = "postgresql://merchant:Xk7pQ2vN9sLmW4tR@db.internal:5432/merchant"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MERCHANT_* variable from the outer environment leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("MERCHANT_"):
            monkeypatch.delenv(name)


class TestSettingsFromEnvironment:
    def test_defaults_without_variables(self) -> None:
        settings = Settings()
        assert settings.env is Environment.development
        assert settings.database_url is None
        assert settings.data_dir == Path(".merchant")
        assert settings.auto_migrate is False
        assert settings.port == 8000
        assert settings.log_level == "INFO"
        assert settings.log_format is LogFormat.json

    def test_prefixed_variables_read(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "test")
        monkeypatch.setenv("MERCHANT_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("MERCHANT_AUTO_MIGRATE", "true")
        monkeypatch.setenv("MERCHANT_PORT", "9001")
        monkeypatch.setenv("MERCHANT_DB_POOL_SIZE", "3")
        monkeypatch.setenv("MERCHANT_LOG_LEVEL", "DEBUG")
        monkeypatch.setenv("MERCHANT_LOG_FORMAT", "console")
        settings = Settings()
        assert settings.env is Environment.test
        assert settings.data_dir == tmp_path
        assert settings.auto_migrate is True
        assert settings.port == 9001
        assert settings.db_pool_size == 3
        assert settings.log_level == "DEBUG"
        assert settings.log_format is LogFormat.console

    def test_unprefixed_variables_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PORT", "9999")
        monkeypatch.setenv("ENV", "production")
        monkeypatch.setenv("DATABASE_URL", STRONG_URL)
        settings = Settings()
        assert settings.port == 8000
        assert settings.env is Environment.development
        assert settings.database_url is None

    def test_out_of_range_value_rejected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_PORT", "0")
        with pytest.raises(ValidationError, match="port"):
            Settings()

    def test_unknown_environment_rejected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "staging")
        with pytest.raises(ValidationError, match="env"):
            Settings()

    def test_is_production(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert Settings().is_production is False
        monkeypatch.setenv("MERCHANT_ENV", "production")
        assert Settings().is_production is True


class TestDatabaseUrlNormalisation:
    def test_postgresql_scheme_gets_psycopg_driver(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgresql://app:pw@db:5432/merchant")
        assert Settings().database_url == "postgresql+psycopg://app:pw@db:5432/merchant"

    def test_postgres_scheme_gets_psycopg_driver(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgres://app:pw@db:5432/merchant")
        assert Settings().database_url == "postgresql+psycopg://app:pw@db:5432/merchant"

    def test_other_postgresql_driver_replaced(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgresql+asyncpg://app:pw@db/merchant")
        assert Settings().database_url == "postgresql+psycopg://app:pw@db/merchant"

    def test_psycopg_url_unchanged(self, monkeypatch: pytest.MonkeyPatch) -> None:
        url = "postgresql+psycopg://app:pw@db:5432/merchant?sslmode=require"
        monkeypatch.setenv("MERCHANT_DATABASE_URL", url)
        assert Settings().database_url == url

    def test_password_kept_not_masked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgresql://app:p%40ss%2Fw0rd@db/merchant")
        url = Settings().database_url
        assert url is not None
        assert "***" not in url
        assert make_url(url).password == "p@ss/w0rd"

    def test_empty_url_left_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "")
        assert Settings().database_url == ""

    def test_sqlite_rejected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Raised in a model validator but not a ValueError: pydantic lets it through unwrapped.
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "sqlite:///merchant.db")
        with pytest.raises(ConfigurationError, match="only PostgreSQL is supported, not 'sqlite'"):
            Settings()

    def test_mysql_rejected(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "mysql+pymysql://app:pw@db/merchant")
        with pytest.raises(ConfigurationError, match="only PostgreSQL is supported, not 'mysql'"):
            Settings()

    def test_unparseable_url_raises_sqlalchemy_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Neither ConfigurationError nor ValidationError, and the message names no setting.
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "not a url")
        with pytest.raises(ArgumentError, match="Could not parse SQLAlchemy URL"):
            Settings()


class TestSqlalchemyUrl:
    def test_driver_set(self) -> None:
        assert sqlalchemy_url("postgresql://u:pw@h/d") == "postgresql+psycopg://u:pw@h/d"

    def test_non_postgresql_rejected(self) -> None:
        with pytest.raises(ConfigurationError, match="not 'oracle'"):
            sqlalchemy_url("oracle://u:pw@h/d")


class TestLibpqUrl:
    def test_driver_removed(self) -> None:
        assert libpq_url("postgresql+psycopg://u:pw@h:5432/d") == "postgresql://u:pw@h:5432/d"


class TestCheckProductionReady:
    def test_development_without_database_url_passes(self) -> None:
        settings = Settings()
        assert settings.env is Environment.development
        settings.check_production_ready()

    def test_test_environment_with_placeholder_password_passes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "test")
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgresql://merchant:changeme@db/merchant")
        Settings().check_production_ready()

    def test_production_without_database_url_fails(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        settings = Settings()
        with pytest.raises(ConfigurationError, match="MERCHANT_DATABASE_URL is required") as info:
            settings.check_production_ready()
        assert str(info.value).startswith("MERCHANT_ENV=production refuses to start: ")

    def test_production_refuses_bench_endpoints(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        monkeypatch.setenv("MERCHANT_DATABASE_URL", "postgresql://merchant:s3cr3t-Long@db/merchant")
        monkeypatch.setenv("MERCHANT_BENCH_ENDPOINTS", "true")
        with pytest.raises(ConfigurationError, match="MERCHANT_BENCH_ENDPOINTS must be off"):
            Settings().check_production_ready()

    @pytest.mark.parametrize("password", ["changeme", "postgres", "ChangeMe", "PASSWORD", "test"])
    def test_production_placeholder_password_fails(
        self, monkeypatch: pytest.MonkeyPatch, password: str
    ) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        monkeypatch.setenv("MERCHANT_DATABASE_URL", f"postgresql://merchant:{password}@db/merchant")
        settings = Settings()
        with pytest.raises(ConfigurationError, match="missing or placeholder password"):
            settings.check_production_ready()

    @pytest.mark.parametrize(
        "url",
        ["postgresql://merchant:@db/merchant", "postgresql://merchant@db/merchant"],
        ids=["empty-password", "no-password"],
    )
    def test_production_empty_password_fails(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        monkeypatch.setenv("MERCHANT_DATABASE_URL", url)
        settings = Settings()
        with pytest.raises(ConfigurationError, match="missing or placeholder password"):
            settings.check_production_ready()

    def test_production_needs_a_stripe_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        monkeypatch.setenv("MERCHANT_DATABASE_URL", STRONG_URL)
        with pytest.raises(ConfigurationError, match="MERCHANT_STRIPE_API_KEY is required"):
            Settings().check_production_ready()
        monkeypatch.setenv("MERCHANT_STRIPE_API_KEY", "changeme")
        with pytest.raises(ConfigurationError, match="MERCHANT_STRIPE_API_KEY is required"):
            Settings().check_production_ready()

    def test_production_strong_password_passes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        production_ready(monkeypatch)
        settings = Settings()
        settings.check_production_ready()
        assert settings.database_url == STRONG_URL.replace("postgresql://", "postgresql+psycopg://")


def production_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCHANT_ENV", "production")
    monkeypatch.setenv("MERCHANT_DATABASE_URL", STRONG_URL)
    monkeypatch.setenv("MERCHANT_STRIPE_API_KEY", "sk_live_0123456789abcdef")
    monkeypatch.setenv("MERCHANT_STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef")
    monkeypatch.setenv("MERCHANT_PUBLIC_URL", "https://shop.example")


class TestProductionSafety:
    """Before: production started without a Stripe webhook secret (POST /stripe/webhooks is always
    mounted) and without a public URL, so links were built from the request's Host header."""

    @pytest.mark.parametrize("secret", [None, "changeme"])
    def test_the_stripe_webhook_secret_is_required(
        self, monkeypatch: pytest.MonkeyPatch, secret: str | None
    ) -> None:
        production_ready(monkeypatch)
        monkeypatch.delenv("MERCHANT_STRIPE_WEBHOOK_SECRET")
        if secret is not None:
            monkeypatch.setenv("MERCHANT_STRIPE_WEBHOOK_SECRET", secret)
        with pytest.raises(ConfigurationError, match="MERCHANT_STRIPE_WEBHOOK_SECRET is required"):
            Settings().check_production_ready()

    def test_a_public_url_is_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        production_ready(monkeypatch)
        monkeypatch.delenv("MERCHANT_PUBLIC_URL")
        with pytest.raises(ConfigurationError, match=r"MERCHANT_PUBLIC_URL .* is required"):
            Settings().check_production_ready()

    def test_the_public_url_must_be_https(self, monkeypatch: pytest.MonkeyPatch) -> None:
        production_ready(monkeypatch)
        monkeypatch.setenv("MERCHANT_PUBLIC_URL", "http://shop.example")
        with pytest.raises(ConfigurationError, match="public URL must be https"):
            Settings().check_production_ready()

    def test_the_toml_public_url_counts_and_must_be_https(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        production_ready(monkeypatch)
        monkeypatch.delenv("MERCHANT_PUBLIC_URL")
        toml = tmp_path / "merchant.toml"
        monkeypatch.setenv("MERCHANT_CONFIG", str(toml))
        toml.write_text('[shop]\npublic_url = "http://shop.example"\n')
        with pytest.raises(ConfigurationError, match="public URL must be https"):
            Settings().check_production_ready()
        toml.write_text('[shop]\npublic_url = "https://shop.example"\n')
        Settings().check_production_ready()
        monkeypatch.setenv("MERCHANT_PUBLIC_URL", "http://override.example")  # the variable wins
        with pytest.raises(ConfigurationError, match="public URL must be https"):
            Settings().check_production_ready()

    def test_every_problem_is_reported_at_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MERCHANT_ENV", "production")
        with pytest.raises(ConfigurationError) as info:
            Settings().check_production_ready()
        for name in ("DATABASE_URL", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "PUBLIC_URL"):
            assert f"MERCHANT_{name}" in str(info.value)
