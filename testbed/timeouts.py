"""The production timeouts, in one place, and the ladder they form at a time scale.

Production (docs/conventions.md §11): load balancer 60 s > app request deadline 55 s > LLM
call 15 s; DB statement timeout 10 s; breaker recovery 60 s. Every duration is multiplied by
``TIME_SCALE``, but a margin cannot shrink with it: at 0.1 the LB's 6.0 s left a
deadline answer 500 ms to cross Caddy on a loaded machine. So each rung of the ladder
keeps at least :data:`MIN_GAP_S` above the one below it, at any scale: the LB timeout
is ``max(60 s x scale, app deadline + 1 s)``. The stack (Caddy, gunicorn), the chaos and
load scenarios and the gate's ``timeout_ordering`` check all read these numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LB_TIMEOUT_S = 60.0  # the load balancer's response-header timeout
APP_DEADLINE_S = 55.0  # the app's whole-request deadline (and gunicorn's --timeout)
LLM_TIMEOUT_S = 15.0  # one LLM call
DB_STATEMENT_TIMEOUT_S = 10.0
BREAKER_RECOVERY_S = 60.0
# a service started without TIME_SCALE runs in production time (docs/conventions.md §2)
SERVICE_DEFAULT_TIME_SCALE = 1.0
MIN_GAP_S = 1.0  # between two rungs of the ladder, at every scale (seconds, not scaled)
_EPSILON_S = 1e-9  # float noise of x * scale


@dataclass(frozen=True)
class Ladder:
    """The timeouts at one scale, in seconds: ``lb_s >= app_s + MIN_GAP_S``."""

    scale: float
    lb_s: float
    app_s: float
    llm_s: float
    gunicorn_s: int  # whole seconds, never under the app deadline


def ladder(
    scale: float, *, lb_timeout_s: float = LB_TIMEOUT_S, app_deadline_s: float = APP_DEADLINE_S
) -> Ladder:
    """The scaled ladder; ``lb_timeout_s``/``app_deadline_s`` are production values
    (a checklist's ``[deployment]`` may set its own)."""
    app = app_deadline_s * scale
    lb = max(lb_timeout_s * scale, app + MIN_GAP_S)
    return Ladder(scale, lb, app, LLM_TIMEOUT_S * scale, gunicorn_timeout(app))


def gunicorn_timeout(app_timeout_s: float) -> int:
    """Gunicorn's worker timeout takes whole seconds; round up so it never undercuts the app."""
    return max(1, math.ceil(app_timeout_s - _EPSILON_S))


def gap_problem(upper: float, lower: float, upper_label: str, lower_label: str) -> str | None:
    """Why ``upper`` does not outlast ``lower`` by :data:`MIN_GAP_S` (None: it does)."""
    if upper - lower >= MIN_GAP_S - _EPSILON_S:
        return None
    return (
        f"{upper_label} {upper:g}s is not at least {MIN_GAP_S:g}s longer than the "
        f"{lower_label} {lower:g}s (margin {upper - lower:.3g}s)"
    )
