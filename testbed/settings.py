"""The harness's own settings, read once from the environment: one default each.

Every CLI command and engine reads ``TIME_SCALE``, ``TARGET``, ``STACK_WORKERS`` and
``REPORTS_DIR`` through :func:`harness_settings` (README "Settings"), so a knob has one
name, one default and one error message whoever reads it. A command-line option given
explicitly wins over the environment: pass it as an override.

```python
settings = harness_settings(time_scale=cli_time_scale)  # None: from $TIME_SCALE or 0.1
settings.time_scale, settings.targets, settings.workers, settings.reports_dir
```

The services have their own settings (docs/conventions.md section 2; refactored's
``TIME_SCALE`` defaults to 1.0 there, production time): the harness passes its scale to
them explicitly, so the two defaults never meet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from testbed.targets import UnknownTargetError, parse_targets

DEFAULT_TIME_SCALE = 0.1  # CI's scale: a 60 s LB timeout becomes 6.5 s (testbed.timeouts)


class HarnessSettingsError(ValueError):
    """A harness setting is malformed; the message names the variable and a valid value."""


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    time_scale: float = Field(
        DEFAULT_TIME_SCALE, gt=0, validation_alias=AliasChoices("time_scale", "TIME_SCALE")
    )
    target: str = Field("both", validation_alias=AliasChoices("target", "TARGET"))
    workers: int = Field(2, ge=1, validation_alias=AliasChoices("workers", "STACK_WORKERS"))
    reports_dir: Path = Field(
        Path("reports"), validation_alias=AliasChoices("reports_dir", "REPORTS_DIR")
    )

    @property
    def targets(self) -> tuple[str, ...]:
        """``target`` parsed (``both`` -> legacy, refactored)."""
        return parse_targets(self.target)


_ENV_NAMES = {
    "time_scale": "TIME_SCALE",
    "target": "TARGET",
    "workers": "STACK_WORKERS",
    "reports_dir": "REPORTS_DIR",
}
_EXAMPLES = {"time_scale": "0.1", "target": "both", "workers": "2", "reports_dir": "reports"}


def harness_settings(**overrides: Any) -> HarnessSettings:
    """The settings from the environment; ``overrides`` that are not None win (CLI options).

    A bad value raises :class:`HarnessSettingsError` naming the variable, e.g.
    ``TIME_SCALE='fast' is not valid (must be a number > 0, e.g. 0.1)``.
    """
    given = {name: value for name, value in overrides.items() if value is not None}
    unknown = set(given) - set(_ENV_NAMES)
    if unknown:
        raise TypeError(f"unknown harness settings: {sorted(unknown)}")
    try:
        settings = HarnessSettings(**given)
        settings.targets  # noqa: B018 - validates the spelling now, not at first use
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = next((f for f, env in _ENV_NAMES.items() if field in (f, env)), field)
        raise HarnessSettingsError(
            f"{_ENV_NAMES.get(name, name)}={error.get('input')!r} is not valid "
            f"({error['msg'].lower()}, e.g. {_EXAMPLES.get(name, '?')})"
        ) from None
    except UnknownTargetError as exc:
        raise HarnessSettingsError(f"TARGET: {exc}") from None
    return settings
