"""Typed, validated settings (pydantic-settings), read from the environment.

Every duration is a production value in seconds; :meth:`Settings.scaled`
multiplies it by ``TIME_SCALE`` so CI can run the 3am incident in seconds.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-in-production"
SECRET_KEY_HELP = (
    "SECRET_KEY must be changed in production!\n"
    "Set a strong random key (at least 32 characters) in .env file.\n"
    "Example: SECRET_KEY=$(openssl rand -hex 32)"
)

MIN_ADMIN_TOKEN_LENGTH = 32
ADMIN_TOKEN_HELP = (
    f"ADMIN_TOKEN must have at least {MIN_ADMIN_TOKEN_LENGTH} characters in production "
    "(or be unset: the admin endpoint is then disabled). "
    "Example: ADMIN_TOKEN=$(openssl rand -hex 32)"
)


class SettingsError(ValueError):
    """Invalid settings, described by field and rule; never by the value (it may be a secret)."""


class Policy(StrEnum):
    """The resilience policies; each can be switched off with RESILIENCE_DISABLE."""

    TIMEOUTS = "timeouts"
    RETRY = "retry"
    BREAKER = "breaker"
    FALLBACKS = "fallbacks"
    RATE_LIMIT = "rate_limit"
    POOL_LIMITS = "pool_limits"
    JOB_BULKHEAD = "job_bulkhead"
    OUTBOX = "outbox"


VALID_POLICIES = ", ".join(p.value for p in Policy)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # docs/conventions.md §2
    database_url: str
    llm_base_url: str
    llm_api_key: str = "fake-key"
    llm_model: str = "llama-3.1-8b-instant"
    memory_api_url: str
    memory_api_key: str = ""
    amqp_url: str | None = None
    alert_webhook_url: str | None = None
    secret_key: str = DEFAULT_SECRET_KEY
    env: Literal["development", "production"] = "development"
    admin_token: str | None = None
    time_scale: float = Field(1.0, gt=0)
    nightly_scheduler_enabled: bool = True
    log_level: str = "INFO"

    # HTTP clients
    http_ca_bundle: str | None = None  # a custom CA bundle; verification is never off
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    http_max_connections: int = 256

    # timeouts (production seconds, scaled)
    request_deadline_s: float = 55.0
    # The request's own DB work ends this long before the deadline (503 before the 504) ...
    deadline_reserve_s: float = 5.0
    # ... and LLM / Memory API calls (with their retries) end this long before it, so a
    # hanging dependency still leaves time to store the fallback result and answer 200.
    dependency_deadline_reserve_s: float = 10.0
    llm_timeout_s: float = 15.0
    memory_timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    db_statement_timeout_s: float = 10.0
    # client-side bound on one DB statement and on one request unit of work (a read or a
    # transaction): statement_timeout is enforced by the server, so a slow link never trips it
    db_call_timeout_s: float = 15.0
    db_ssl: Literal["auto", "disable", "verify"] = "auto"
    db_connect_timeout_s: float = 5.0
    health_db_timeout_s: float = 2.0
    # DB pools (per worker process; see README for the sizing rationale). The request pool
    # keeps all its 15 connections open: an overflow connection is closed when it comes
    # back and reopened at the next burst, ~6 CPU ms each (docs/performance.md, third pass)
    db_pool_size: int = Field(15, ge=1)
    db_max_overflow: int = Field(0, ge=0)
    db_pool_timeout: float = Field(2.0, gt=0)  # seconds to wait for a connection (scaled)
    unbounded_pool_size: int = 200  # what pool_limits disabled means
    job_db_pool_size: int = Field(2, ge=1)
    job_concurrency: int = Field(4, ge=1)
    job_batch_size: int = Field(100, ge=1)
    job_timeout_s: float = Field(600.0, gt=0)  # one nightly run (admin endpoint, scheduler)
    storage_retry_after_s: int = 5
    # retry
    retry_attempts: int = Field(3, ge=1)
    retry_initial_s: float = 2.0
    retry_max_s: float = 8.0
    retry_jitter_s: float = 1.0
    # The longest Retry-After honoured; a dependency asking for more is not retried at all
    # (the call fails to its fallback now): outside a request deadline (the nightly job)
    # nothing else would bound that wait but JOB_TIMEOUT_S.
    retry_after_max_s: float = Field(60.0, gt=0)
    # breaker
    circuit_breaker_failure_threshold: int = Field(5, ge=1)
    circuit_breaker_recovery_timeout: float = Field(60.0, gt=0)
    # rate limits (the seed's names)
    rate_limit_enabled: bool = True
    rate_limit_default: str = "100/minute"
    rate_limit_conversation_end: str = "100/minute"
    rate_limit_activities_suggest: str = "60/minute"
    rate_limit_health_check: str = "300/minute"
    # The counters' store (limits' storage URI): memory:// is one store per worker process
    # (W workers: W x the limit); redis://host:port/db is one budget for every worker and host.
    rate_limit_storage_uri: str = "memory://"
    rate_limit_key_prefix: str = "refactored"  # stacks sharing one Redis never share counters
    # One store call (connect or command); past it the limiter fails open. Not scaled: it
    # bounds a loopback/LAN round trip, which TIME_SCALE does not shrink.
    rate_limit_storage_timeout_s: float = Field(0.5, gt=0)
    # The load balancers whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated);
    # none by default: the client is the TCP peer.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    # outbox relay
    outbox_poll_interval_s: float = 1.0
    outbox_batch_size: int = 100
    outbox_backlog_alert: int = 1000
    amqp_timeout_s: float = Field(10.0, gt=0)  # one broker operation (connect, publish, close)
    outbox_iteration_timeout_s: float = Field(60.0, gt=0)  # watchdog on one relay pass
    outbox_retry_max_s: float = Field(10.0, gt=0)  # relay backoff cap while the broker fails
    # alerts and observability
    alert_p2_window_s: float = 60.0
    alert_latency_p95_s: float = 2.0
    alert_latency_p99_s: float = 5.0
    alert_timeout_s: float = 5.0
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_flush_timeout_s: float = Field(5.0, gt=0)  # at shutdown, for the queued spans
    loop_lag_interval_s: float = 0.25
    # input validation: a datetime later than now plus this is a 422 (not scaled: it is the
    # disagreement between the client's clock and ours, which TIME_SCALE does not shrink)
    clock_skew_s: float = Field(300.0, ge=0)
    # nightly schedule: 03:00 UTC
    nightly_hour_utc: int = Field(3, ge=0, le=23)

    resilience_disable: Annotated[frozenset[Policy], NoDecode] = frozenset()

    @field_validator("resilience_disable", mode="before")
    @classmethod
    def _parse_disabled(cls, value: object) -> object:
        if isinstance(value, str):
            names = [n.strip() for n in value.split(",") if n.strip()]
            unknown = [n for n in names if n not in Policy.__members__.values()]
            if unknown:
                raise ValueError(
                    f"RESILIENCE_DISABLE: unknown policy {', '.join(unknown)}; "
                    f"valid names: {VALID_POLICIES}"
                )
            return frozenset(Policy(n) for n in names)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return tuple(
                    ip_network(v.strip(), strict=False) for v in value.split(",") if v.strip()
                )
            except ValueError as exc:
                raise ValueError(f"TRUSTED_PROXIES: {exc} (IPs or CIDRs, comma-separated)") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key_length(cls, value: str) -> str:
        if value != DEFAULT_SECRET_KEY and len(value) < 32:
            raise ValueError(f"SECRET_KEY is too short ({len(value)} chars). {SECRET_KEY_HELP}")
        return value

    @model_validator(mode="after")
    def _production_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(SECRET_KEY_HELP)
        return self

    @model_validator(mode="after")
    def _production_admin_token(self) -> Settings:
        token = self.admin_token
        if self.env == "production" and token and len(token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(f"ADMIN_TOKEN is too short ({len(token)} chars). {ADMIN_TOKEN_HELP}")
        return self

    @model_validator(mode="after")
    def _reserves_fit_the_deadline(self) -> Settings:
        if not self.deadline_reserve_s <= self.dependency_deadline_reserve_s:
            raise ValueError(
                "DEPENDENCY_DEADLINE_RESERVE_S must be >= DEADLINE_RESERVE_S: dependency calls "
                "must stop before the time kept to store their (fallback) result"
            )
        if self.dependency_deadline_reserve_s >= self.request_deadline_s:
            raise ValueError(
                "DEPENDENCY_DEADLINE_RESERVE_S must be shorter than REQUEST_DEADLINE_S "
                "(it would leave no time for the LLM and Memory API calls)"
            )
        return self

    def enabled(self, policy: Policy) -> bool:
        return policy not in self.resilience_disable

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    def scaled_or_none(
        self, seconds: float | None, policy: Policy = Policy.TIMEOUTS
    ) -> float | None:
        """``seconds`` scaled while ``policy`` is on; None (unbounded) when it is switched
        off with RESILIENCE_DISABLE. The one place a disabled bound becomes "no bound"."""
        if seconds is None or not self.enabled(policy):
            return None
        return self.scaled(seconds)

    @property
    def async_database_url(self) -> str:
        url = self.database_url
        for prefix in (
            "postgresql+psycopg2://",
            "postgresql+asyncpg://",
            "postgres://",
            "postgresql://",
        ):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        raise ValueError(f"DATABASE_URL must start with postgresql://, got {url.split(':')[0]}")


def load_settings() -> Settings:
    """Settings from the environment; an invalid one raises :class:`SettingsError`.

    pydantic's ValidationError prints each rejected ``input_value``: a short SECRET_KEY
    would land in full on stderr and in the deploy logs. The error raised here names the
    variable and the rule only, and drops the original (``from None``) so no traceback
    shows it either.
    """
    try:
        return Settings()  # type: ignore[call-arg]  # required values come from the environment
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']).upper() or 'settings'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise SettingsError(
            f"{len(problems)} invalid setting(s):\n  " + "\n  ".join(problems)
        ) from None


class ExplicitSettings(Settings):
    """Settings from the given values only, never the environment (tests, embedding)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *args, **kwargs):
        return (init_settings,)
