"""Config evidence: the target's effective settings, as it would start in the gate's environment.

- ``secret_rejected``: with ``ENV=production`` the app factory refuses the placeholder
  and 16- and 31-character ``SECRET_KEY`` values, and accepts a 32-character one (the
  refusal is about the length, at the boundary);
- ``secret_strength``: in a production environment (``ENV=production``) the
  ``SECRET_KEY`` to be deployed is strong;
- ``timeout_ordering``: load balancer > app deadline > every dependency timeout, at the
  configured ``TIME_SCALE``;
- ``pool_budget``: (pool size + overflow) x workers + job pool fits the database's
  ``max_connections`` (minus the superuser reserve), read from the live database
  (``DATABASE_URL``) or, without one, as the newest chaos/load run recorded it (the
  harness's embedded PostgreSQL is gone when the gate runs). Workers: the newest run's,
  else the checklist's ``[deployment]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.connections import max_connections, workers
from testbed.timeouts import gap_problem, ladder

PLACEHOLDER_SECRET = "change-me-in-production"
MIN_SECRET_LENGTH = 32
STRONG_TEST_SECRET = "0123456789abcdef" * 4  # only ever given to the probe child process
HARNESS_ROOT = Path(__file__).resolve().parents[2]  # harness/ itself (the target may be a copy)


def _key(length: int) -> str:
    """A key of ``length`` characters that is strong in every way but its length."""
    return (STRONG_TEST_SECRET * 2)[:length]


PROBE_TIMEOUT_S = 90


def _probe(context: GateContext, what: str, ref: str, env: dict[str, str]) -> dict[str, Any]:
    child_env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    path = os.pathsep.join(dict.fromkeys([str(context.repo_root), str(HARNESS_ROOT)]))
    child_env.update({"PYTHONPATH": path, "NIGHTLY_SCHEDULER_ENABLED": "false"})
    child_env.update(env)
    command = [sys.executable, "-m", "harness.evidence.probe", what, ref]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False,
            env=child_env, cwd=context.repo_root,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EvidenceError(f"cannot probe {ref}: {exc}") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise EvidenceError(f"probing {ref} failed: {proc.stderr.strip()[-600:]}")
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"probing {ref} printed no JSON: {lines[-1][:200]!r}") from exc
    return result


def _target_env(context: GateContext) -> dict[str, str]:
    return {**context.spec.probe_env, **context.env}


def settings_values(context: GateContext) -> dict[str, float | None]:
    """Logical setting -> production value (unscaled), None when the target has no such setting."""
    key = f"settings:{context.target}"
    if key in context.cache:
        return dict(context.cache[key])
    spec = context.spec
    raw: dict[str, Any] = {}
    if spec.settings:
        raw = _probe(context, "settings", spec.settings, _target_env(context))
    values: dict[str, float | None] = {name: float(v) for name, v in spec.settings_values.items()}
    for logical, attribute in spec.settings_fields.items():
        if attribute not in raw:
            raise EvidenceError(
                f"{spec.settings} has no attribute {attribute!r} "
                f"(checklist targets.{context.target}.settings_fields.{logical})"
            )
        value = raw[attribute]
        values[logical] = None if value is None else float(value)
    context.cache[key] = values
    return values


def secret_rejected(evidence: Any, context: GateContext) -> Outcome:
    """Does the service refuse to start in production with a weak SECRET_KEY?"""
    ref = context.spec.app_factory
    base = {**context.spec.probe_env, "ENV": "production"}
    placeholder = str(evidence.params.get("placeholder", PLACEHOLDER_SECRET))
    # one short of the minimum and half of it refused, the minimum itself accepted: the check
    # finds the boundary, not just a key too short by any standard
    attempts = {
        "placeholder": placeholder,
        f"{MIN_SECRET_LENGTH - 1}-char": _key(MIN_SECRET_LENGTH - 1),
        f"{MIN_SECRET_LENGTH // 2}-char": _key(MIN_SECRET_LENGTH // 2),
        "strong": _key(MIN_SECRET_LENGTH),
    }
    # three child processes at once: each mostly waits on imports
    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        futures = {
            label: pool.submit(_probe, context, "app", ref, {**base, "SECRET_KEY": key})
            for label, key in attempts.items()
        }
        answers = {label: future.result() for label, future in futures.items()}
    control = answers.pop("strong")
    accepted = [label for label, answer in answers.items() if answer["ok"]]
    if accepted:
        return Outcome.fail(
            f"starts in production with a {' and a '.join(accepted)} SECRET_KEY",
            [f"{ref}() accepted ENV=production SECRET_KEY={attempts[a]!r}" for a in accepted],
        )
    if not control["ok"]:
        return Outcome.fail(
            "refuses to start even with a strong key: the refusal proves nothing",
            [f"{ref}() with a {MIN_SECRET_LENGTH}-char key: {control.get('error')}"],
        )
    return Outcome.ok(
        f"in production refuses the placeholder, {MIN_SECRET_LENGTH // 2}- and "
        f"{MIN_SECRET_LENGTH - 1}-char keys; accepts a {MIN_SECRET_LENGTH}-char one"
    )


def secret_strength(evidence: Any, context: GateContext) -> Outcome:
    """The key this environment would deploy: strong when ENV=production."""
    env = context.env
    if env.get("ENV", "development") != "production":
        return Outcome.ok(
            "ENV is not production: no production key to check",
            ["set ENV=production (and SECRET_KEY) in the deploy job to check the real key"],
        )
    key = env.get("SECRET_KEY", PLACEHOLDER_SECRET)
    problems = []
    if key == PLACEHOLDER_SECRET:
        problems.append("SECRET_KEY is the placeholder")
    if len(key) < MIN_SECRET_LENGTH:
        problems.append(f"SECRET_KEY has {len(key)} chars (< {MIN_SECRET_LENGTH})")
    if len(set(key)) < 8:
        problems.append("SECRET_KEY uses fewer than 8 distinct characters")
    if problems:
        return Outcome.fail("; ".join(problems), ["generate one: openssl rand -hex 32"])
    return Outcome.ok(f"production SECRET_KEY: {len(key)} chars, {len(set(key))} distinct")


def _scale(context: GateContext, values: dict[str, float | None]) -> float:
    scale = values.get("time_scale")
    return float(scale) if scale else context.time_scale


def timeout_ordering(evidence: Any, context: GateContext) -> Outcome:
    """LB > app > dependencies at the configured scale (production: 60 > 55 > 15 s,
    docs/conventions.md §11), each rung at least ``testbed.timeouts.MIN_GAP_S`` (1 s) above
    the next at any scale. The LB
    is the one the stack deploys: ``max(lb_timeout_s x scale, gunicorn_timeout_s x scale +
    1 s)`` (``testbed.timeouts.ladder``)."""
    values = settings_values(context)
    scale = _scale(context, values)
    deployment = context.checklist.deployment
    rungs = ladder(
        scale, lb_timeout_s=deployment.lb_timeout_s, app_deadline_s=deployment.gunicorn_timeout_s
    )
    lb, gunicorn = rungs.lb_s, rungs.gunicorn_s
    deadline = values.get("app_deadline_s")
    app = deadline * scale if deadline else float(gunicorn)
    app_label = "app deadline" if deadline else "gunicorn timeout (no app deadline)"
    dependencies: list[str] = list(evidence.params.get("dependencies", ["llm_timeout_s"]))
    problems = []
    parts = [f"LB {lb:g}s", f"{app_label} {app:g}s"]
    if (problem := gap_problem(lb, app, "load balancer", app_label)) is not None:
        problems.append(problem)
    for name in dependencies:
        value = values.get(name)
        label = name.removesuffix("_s").replace("_", " ")
        if value is None:
            parts.append(f"{label} none")
            problems.append(f"{label}: none set, a slow dependency holds the request forever")
            continue
        parts.append(f"{label} {value * scale:g}s")
        if (problem := gap_problem(app, value * scale, app_label, label)) is not None:
            problems.append(problem)
    observed = " > ".join(parts) + f" (TIME_SCALE {scale:g})"
    return Outcome(not problems, observed, problems)


def pool_budget(evidence: Any, context: GateContext) -> Outcome:
    """(pool + overflow) x workers + job pool <= max_connections - superuser_reserved."""
    values = settings_values(context)
    worker_count, workers_source = workers(context)
    pool, overflow, job = (values.get(k) for k in ("db_pool_size", "db_max_overflow", "job_pool"))
    problems = []
    if pool is None:
        problems.append("no setting bounds the request pool")
    if job is None:
        problems.append("no setting bounds the nightly job's connections (one per user)")
    if problems:  # fails whatever the database allows: say so even when that is unknown
        try:
            limit, source = max_connections(context)
        except EvidenceError as exc:
            return Outcome.fail("unbounded; database limit unknown", [*problems, str(exc)])
        return Outcome.fail(f"unbounded; database allows {limit} ({source})", problems)
    limit, source = max_connections(context)
    assert pool is not None and job is not None
    needed = int((pool + (overflow or 0)) * worker_count + job)
    observed = (
        f"({pool:g}+{overflow or 0:g})x{worker_count} workers + job {job:g} = {needed} "
        f"<= {limit} usable ({source}; {workers_source})"
    )
    if needed > limit:
        return Outcome.fail(observed.replace("<=", ">"), ["raise max_connections or shrink pools"])
    return Outcome.ok(observed)


CONFIG_CHECKS = {
    "secret_rejected": secret_rejected,
    "secret_strength": secret_strength,
    "timeout_ordering": timeout_ordering,
    "pool_budget": pool_budget,
}
