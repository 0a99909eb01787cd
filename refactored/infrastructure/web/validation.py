"""Input checks that need the clock, and a 422 body that can always be rendered.

A datetime later than now plus ``CLOCK_SKEW_S`` would move ``last_interaction_at`` into the
future and exempt the friendship from decay for ever: 422, like every other bad value
(the fixed part of the window is in ``schemas.py``). The 422 body echoes what the client
sent; :func:`json_safe` makes that echo valid JSON whatever it holds (NaN, infinities,
unpaired surrogates), so the error renderer itself can never fail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError

from refactored.infrastructure.web.schemas import WINDOW_RULE

Loc = tuple[str | int, ...]


def not_after(now: datetime, skew_s: float, fields: Iterable[tuple[Loc, datetime | None]]) -> None:
    """Raise a 422 (RequestValidationError) for every datetime after ``now + skew_s``."""
    latest = now + timedelta(seconds=skew_s)
    errors = [
        {
            "type": "value_error",
            "loc": loc,
            "msg": f"Value error, {WINDOW_RULE} (now plus {skew_s:g}s of clock skew)",
            "input": value.isoformat(),
        }
        for loc, value in fields
        if value is not None and value > latest
    ]
    if errors:
        raise RequestValidationError(errors)


# Deeper than this, an echoed input is cut: a hostile body nested thousands of levels
# deep would otherwise make the error renderer recurse until RecursionError (a 500).
MAX_ECHO_DEPTH = 10


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with non-finite floats as strings, unpaired surrogates escaped and
    containers nested deeper than ``MAX_ECHO_DEPTH`` replaced by ``"..."``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict | list | tuple) and depth >= MAX_ECHO_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {json_safe(k, depth + 1): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return value
