"""Settings read from the environment, the way the legacy code did it: plain os.environ lookups.

Nothing is validated (legacy bug: the default SECRET_KEY is accepted, even in production).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SECRET_KEY = "change-me-in-production"


class MissingSettingError(RuntimeError):
    """A required environment variable is not set."""


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingSettingError(
            f"{name} is not set; export it before starting legacy (see docs/legacy.md)"
        )
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str
    llm_base_url: str
    llm_api_key: str
    llm_model: str
    memory_api_url: str
    memory_api_key: str
    amqp_url: str | None
    alert_webhook_url: str | None
    secret_key: str
    env: str
    admin_token: str
    nightly_scheduler_enabled: bool
    log_level: str


def load_settings() -> Settings:
    """Read the settings at call time (docs/conventions.md §2)."""
    return Settings(
        database_url=_required("DATABASE_URL"),
        llm_base_url=_required("LLM_BASE_URL").rstrip("/"),
        llm_api_key=os.environ.get("LLM_API_KEY", "fake-key"),
        llm_model=os.environ.get("LLM_MODEL", "llama-3.1-8b-instant"),
        memory_api_url=_required("MEMORY_API_URL").rstrip("/"),
        memory_api_key=os.environ.get("MEMORY_API_KEY", ""),
        amqp_url=os.environ.get("AMQP_URL") or None,
        alert_webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
        secret_key=os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY),
        env=os.environ.get("ENV", "development"),
        admin_token=os.environ.get("ADMIN_TOKEN", "admin"),
        nightly_scheduler_enabled=_flag("NIGHTLY_SCHEDULER_ENABLED", True),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    )
