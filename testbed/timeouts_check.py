"""``python -m testbed.timeouts_check``: refuse a docker compose stack whose timeouts are
out of order.

Compose cannot compute ``60 s x TIME_SCALE``, so its load balancer and gunicorn timeouts
are given pre-scaled (``LB_TIMEOUT``, ``GUNICORN_TIMEOUT``); changing ``TIME_SCALE`` alone
would leave the LB shorter than the app's deadline and bring the 3am 504s back. This
one-shot container checks the ladder of ``testbed.timeouts`` (LB >= app deadline + 1 s,
app deadline >= LLM call + 1 s; docs/conventions.md §11) before the services start, and says which
variables to set.
"""

from __future__ import annotations

import os
import re
import sys

from testbed.timeouts import SERVICE_DEFAULT_TIME_SCALE, gap_problem, ladder

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class TimeoutsError(ValueError):
    pass


def parse_go_duration(text: str) -> float:
    """Seconds of a Go/Caddy duration such as ``6s``, ``500ms`` or ``1m30s``."""
    parts = _GO_DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise TimeoutsError(f"LB_TIMEOUT={text!r} is not a duration (e.g. 6s, 60s, 1m)")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def check(env: dict[str, str]) -> str:
    """The ordering as a sentence; raises :class:`TimeoutsError` naming what to set."""
    try:
        scale = float(env.get("TIME_SCALE", SERVICE_DEFAULT_TIME_SCALE))
        gunicorn = float(env.get("GUNICORN_TIMEOUT", "0"))
    except ValueError as exc:
        raise TimeoutsError(f"TIME_SCALE and GUNICORN_TIMEOUT must be numbers: {exc}") from None
    lb = parse_go_duration(env.get("LB_TIMEOUT", ""))
    rungs = ladder(scale)
    app, llm = rungs.app_s, rungs.llm_s
    wanted = (
        f"for TIME_SCALE={scale:g} set LB_TIMEOUT={round(rungs.lb_s * 1000)}ms "
        f"GUNICORN_TIMEOUT={rungs.gunicorn_s}"
    )
    problem = gap_problem(lb, app, "LB", "app deadline") or gap_problem(
        app, llm, "app deadline", "LLM call"
    )
    if problem is not None:
        raise TimeoutsError(f"timeouts out of order: {problem}; {wanted}")
    if gunicorn < app:
        raise TimeoutsError(
            f"GUNICORN_TIMEOUT={gunicorn:g} kills workers before the app deadline {app:g}s; "
            + wanted
        )
    return f"timeouts in order: LB {lb:g}s > app deadline {app:g}s > LLM call {llm:g}s"


def main() -> int:
    try:
        print(check(dict(os.environ)))
    except TimeoutsError as exc:
        print(f"timeouts_check: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
