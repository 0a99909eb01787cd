"""Settings are validated at start-up with messages that say what to do."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from refactored.core.settings import ExplicitSettings, Policy, Settings
from refactored.main import create_app

pytestmark = pytest.mark.unit
REQUIRED = {
    "database_url": "postgresql://u@h/db",
    "llm_base_url": "http://llm",
    "memory_api_url": "http://mem",
}


def settings(**values: Any) -> Settings:
    return ExplicitSettings(**{**REQUIRED, **values})


def test_default_secret_key_refused_in_production_with_the_seed_message() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be changed in production"):
        settings(env="production")
    assert settings(env="production", secret_key="k" * 32).env == "production"
    assert settings().secret_key == "change-me-in-production"  # development accepts it


def test_short_secret_key_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(secret_key="short")


def test_resilience_disable_parses_names_and_rejects_unknown_ones() -> None:
    parsed = settings(resilience_disable="retry, breaker,")
    assert parsed.resilience_disable == {Policy.RETRY, Policy.BREAKER}
    assert not parsed.enabled(Policy.RETRY) and parsed.enabled(Policy.TIMEOUTS)
    with pytest.raises(ValidationError) as error:
        settings(resilience_disable="retry,retries")
    message = str(error.value)
    assert "unknown policy retries" in message
    assert (
        "timeouts, retry, breaker, fallbacks, rate_limit, pool_limits, job_bulkhead, "
        "outbox" in message
    )


def test_environment_is_read_when_no_settings_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("LLM_BASE_URL", "http://llm")
    monkeypatch.setenv("MEMORY_API_URL", "http://mem")
    monkeypatch.setenv("RESILIENCE_DISABLE", "outbox")
    monkeypatch.setenv("TIME_SCALE", "0.1")
    app = create_app()  # no I/O: nothing is opened before the lifespan
    s = app.state.settings
    assert (s.time_scale, s.resilience_disable) == (0.1, frozenset({Policy.OUTBOX}))
    assert s.scaled(55) == pytest.approx(5.5)


def test_database_url_converted_to_asyncpg_and_bad_scheme_explained() -> None:
    assert settings().async_database_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="must start with postgresql://"):
        _ = settings(database_url="mysql://x/y").async_database_url
