"""One target parser and one settings object for every command and engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.settings import DEFAULT_TIME_SCALE, HarnessSettingsError, harness_settings
from testbed.targets import TARGETS, UnknownTargetError, parse_targets

pytestmark = pytest.mark.unit  # (was unmarked: make test-unit's -m unit never ran these)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("both", TARGETS),
        ("all", TARGETS),
        ("", TARGETS),
        ("legacy", ("legacy",)),
        (" refactored ", ("refactored",)),
        ("refactored,legacy", ("legacy", "refactored")),
        ("legacy,legacy", ("legacy",)),
    ],
)
def test_parse_targets_accepts_every_documented_spelling(
    spec: str, expected: tuple[str, ...]
) -> None:
    assert parse_targets(spec) == expected


@pytest.mark.parametrize("spec", ["lgcy", "legacy,nope", "both,legacy"])
def test_parse_targets_names_the_bad_one_and_the_choices(spec: str) -> None:
    with pytest.raises(UnknownTargetError, match="choose both, legacy, refactored"):
        parse_targets(spec)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIME_SCALE", "TARGET", "STACK_WORKERS", "REPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = harness_settings()
    assert settings.time_scale == DEFAULT_TIME_SCALE == 0.1
    assert settings.targets == TARGETS
    assert settings.workers == 2
    assert settings.reports_dir == Path("reports")


def test_settings_from_the_environment_and_cli_overrides_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIME_SCALE", "0.5")
    monkeypatch.setenv("TARGET", "legacy")
    monkeypatch.setenv("STACK_WORKERS", "3")
    monkeypatch.setenv("REPORTS_DIR", "/tmp/r")
    settings = harness_settings()
    assert (settings.time_scale, settings.targets, settings.workers) == (0.5, ("legacy",), 3)
    assert settings.reports_dir == Path("/tmp/r")
    overridden = harness_settings(time_scale=0.2, workers=None, target="refactored")
    assert (overridden.time_scale, overridden.targets, overridden.workers) == (
        0.2,
        ("refactored",),
        3,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TIME_SCALE", "fast", "TIME_SCALE='fast' is not valid"),
        ("TIME_SCALE", "0", "TIME_SCALE='0' is not valid .*greater than 0"),
        ("STACK_WORKERS", "0", "STACK_WORKERS='0' is not valid"),
        ("TARGET", "lgcy", "TARGET: unknown target 'lgcy'"),
    ],
)
def test_a_bad_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(HarnessSettingsError, match=message):
        harness_settings()
