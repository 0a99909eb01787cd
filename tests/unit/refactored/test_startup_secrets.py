"""Start-up refuses weak secrets in production, and its error never shows a secret's value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from refactored.core.settings import ExplicitSettings, SettingsError
from refactored.main import create_app

pytestmark = pytest.mark.unit
REQUIRED = {
    "DATABASE_URL": "postgresql://u@h/db",
    "LLM_BASE_URL": "http://llm",
    "MEMORY_API_URL": "http://mem",
}
STRONG = "k" * 16 + "0123456789abcdef"  # 32 characters


def settings(**values: Any) -> ExplicitSettings:
    return ExplicitSettings(**{k.lower(): v for k, v in REQUIRED.items()}, **values)


@pytest.mark.parametrize("token", ["a", "x" * 31])
def test_a_short_admin_token_is_refused_in_production(token: str) -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN is too short"):
        settings(env="production", secret_key=STRONG, admin_token=token)


def test_a_long_or_unset_admin_token_starts_in_production_and_a_short_one_in_development() -> None:
    settings(env="production", secret_key=STRONG, admin_token="t" * 32)
    settings(env="production", secret_key=STRONG, admin_token=None)  # endpoint disabled
    settings(env="development", admin_token="a")


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("SECRET_KEY", "hunter2-is-my-password", "SECRET_KEY is too short (22 chars)"),
        ("ADMIN_TOKEN", "admin-token-hunter2", "ADMIN_TOKEN is too short (19 chars)"),
        ("TIME_SCALE", "hunter2-not-a-number", "TIME_SCALE: Input should be a valid number"),
    ],
)
def test_the_start_up_error_names_the_field_and_rule_never_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, rule: str
) -> None:
    for name, default in {**REQUIRED, "ENV": "production", "SECRET_KEY": STRONG}.items():
        monkeypatch.setenv(name, default)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        create_app()
    text = str(caught.value)
    assert rule in text
    assert value not in text and "hunter2" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no echo below
