"""Service settings: one class, environment prefix ``MERCHANT_``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Values that must never reach production as a secret or a database password.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "postgres",
        "merchant",
        "example",
        "placeholder",
        "todo",
        "xxx",
        "test",
        "dev",
    }
)


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class ConfigurationError(Exception):
    """The settings cannot run the service in the chosen environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MERCHANT_", extra="ignore")

    env: Environment = Environment.development
    # External PostgreSQL (postgresql+psycopg://...). Unset: an embedded server in data_dir.
    database_url: str | None = None
    data_dir: Path = Path(".merchant")
    auto_migrate: bool = False

    db_pool_size: int = Field(default=8, ge=1)
    db_max_overflow: int = Field(default=4, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    jobs_pool_size: int = Field(default=4, ge=1)
    # A worker wakes on NOTIFY for new jobs, but not when a job waiting behind another one's lock (the
    # next event of the same order) or a retry's scheduled time becomes free: it polls for those.
    worker_poll_interval: float = Field(default=0.5, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    # merchant.toml: shop, links, payment handlers, shipping, tax, session lifetime
    # (merchant.merchant_config); unset: the built-in defaults (development and the demo).
    config: Path | None = None
    # Accepted distance between a signed request's Timestamp header and our clock.
    signature_skew_seconds: int = Field(default=300, ge=1, le=3600)
    # Until this time (RFC 3339), request signatures of the body alone (the form before
    # merchant-sig-v2) are still accepted, for agents moving over; unset: never.
    signature_accept_legacy_until: AwareDatetime | None = None
    # Where agents and buyers reach this service (discovery `api_base_url`, order permalinks); it
    # overrides `[shop] public_url` of merchant.toml. Production requires one of them, in https.
    # Never taken from a request's Host header.
    public_url: AnyHttpUrl | None = None
    # Mount POST /_bench/insert (bench/checkout_create.sh); refused in production.
    bench_endpoints: bool = False
    # Requests one API process works on at once; beyond it a request gets 503 + Retry-After at once
    # (health checks, the staff API and Stripe webhooks are never refused). A request waiting on
    # the PSP does not count meanwhile. A create is mostly CPU: a few at once keep a process busy,
    # more only queue (bench/overload.py, twice the saturating load on the 2-core reference box:
    # 4 -> admitted p99 52-71 ms at the saturating rate; 8 -> 97-119 ms; 32 -> 0.4-0.65 s).
    # Raise it where requests wait on a remote database longer than they compute.
    max_inflight_requests: int = Field(default=4, ge=1, le=100_000)
    # Largest request body accepted on the ACP endpoints (413 beyond).
    acp_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long an Idempotency-Key's answer is replayed (ACP: at least 24 h).
    idempotency_retention_hours: int = Field(default=72, ge=24, le=24 * 30)
    # A complete holds its session and its Idempotency-Key by a lease, not by a database connection,
    # while the PSP answers; a lease left by a dead process runs out after this long and the next
    # complete takes over (it resumes the same charge with the same PSP key: never a second charge).
    complete_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Requests to URLs others give us (feed URLs) may reach private, loopback and link-local
    # addresses only when this is set (development and tests); production leaves it off.
    outbound_allow_private: bool = False
    # Feed ingest: processes that map rows of a large file (0 = map in a thread), and the file
    # size from which they are used (starting them costs ~1 s).
    feed_mappers: int = Field(default=2, ge=0, le=64)
    feed_mapper_min_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    # Catalog feeds: the largest file accepted by upload or URL fetch.
    feed_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    # Publication to an agent-hosted ACP Feed API (POST /feeds, PATCH /feeds/{id}/products).
    feed_publish_url: str | None = None
    feed_publish_token: str | None = None
    feed_publish_id: str | None = None  # an existing feed id; unset: created on first publish
    feed_publish_target_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    feed_publish_batch_size: int = Field(default=500, ge=1, le=10_000)  # products per PATCH
    feed_publish_timeout: float = Field(default=30.0, gt=0)  # seconds per request attempt
    feed_publish_max_attempts: int = Field(default=5, ge=1, le=20)  # 429/5xx/network retries
    feed_publish_backoff: float = Field(default=0.5, ge=0)  # first retry delay, doubling

    # Stripe: the merchant's secret key; unset outside production: an in-process Stripe
    # emulator (merchant.payments.stripe_emulator) so a purchase completes in development.
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None  # another API address (an emulator, a proxy)
    stripe_webhook_secret: str | None = None  # whsec_..., for POST /stripe/webhooks
    stripe_timeout: float = Field(default=10.0, gt=0, le=80)  # seconds per call
    stripe_max_attempts: int = Field(default=3, ge=1, le=10)  # calls per operation (retries + 1)

    @model_validator(mode="after")
    def _normalise_database_url(self) -> Self:
        if self.database_url:
            self.database_url = sqlalchemy_url(self.database_url)
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    def check_production_ready(self) -> None:
        """Refuse production with missing or placeholder secrets, or an unsafe public address."""
        if not self.is_production:
            return
        problems = self._production_problems()
        if problems:
            raise ConfigurationError("MERCHANT_ENV=production refuses to start: " + "; ".join(problems))

    def _production_problems(self) -> list[str]:
        problems: list[str] = []
        if self.bench_endpoints:
            problems.append("MERCHANT_BENCH_ENDPOINTS must be off in production")
        if not self.database_url:
            problems.append("MERCHANT_DATABASE_URL is required (no embedded database in production)")
        elif (make_url(self.database_url).password or "").lower() in PLACEHOLDER_SECRETS:
            problems.append("MERCHANT_DATABASE_URL has a missing or placeholder password")
        if not self.stripe_api_key or self.stripe_api_key.lower() in PLACEHOLDER_SECRETS:
            problems.append(
                "MERCHANT_STRIPE_API_KEY is required (the Stripe emulator is for development only)"
            )
        # POST /stripe/webhooks is always mounted: without the secret it could verify nothing.
        if not self.stripe_webhook_secret or self.stripe_webhook_secret.lower() in PLACEHOLDER_SECRETS:
            problems.append(
                "MERCHANT_STRIPE_WEBHOOK_SECRET is required (POST /stripe/webhooks verifies with it)"
            )
        problems.extend(self._public_url_problems())
        return problems

    def _public_url_problems(self) -> list[str]:
        from merchant.merchant_config import configured_public_url, load_merchant_config

        try:
            url = configured_public_url(self, load_merchant_config(self.config))
        except ConfigurationError as exc:
            return [str(exc)]
        if url is None:
            return [
                "MERCHANT_PUBLIC_URL (or [shop] public_url in merchant.toml) is required: links are "
                "never built from a request's Host header"
            ]
        if not url.startswith("https://"):
            return [f"the public URL must be https, not {url!r}"]
        return []


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL, spelled for SQLAlchemy with the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ConfigurationError(f"only PostgreSQL is supported, not {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL for libpq/psycopg directly (procrastinate, psql)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache
def get_settings() -> Settings:
    return Settings()
