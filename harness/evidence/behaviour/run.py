"""Running the probe: which checks the judged items name, the servers up, each check in
the order of CHECKS, the servers down; once per gate run (``context.cache``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from harness.checklist_schema import ProbeEvidence
from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.behaviour.app_checks import (
    hostile_input_4xx,
    idempotent_per_owner,
    no_blocking,
    pool_fits,
)
from harness.evidence.behaviour.dependency_checks import (
    breaker_opens,
    hang_ends_at_timeout,
    spans_around_calls,
    tls_refused,
)
from harness.evidence.behaviour.rate_checks import peer_keyed, rate_limited
from harness.evidence.behaviour.servers import make_certificates, start_apps, start_fakes
from harness.evidence.behaviour.session import Session
from testbed.postgres import EmbeddedPostgres, temporary_database
from testbed.processes import ProcessGroup

# Every probe check by name, in the order they run: the rate limits' budgets before the
# breakers' state, the breakers last. A new check is one line here (and its function).
CHECKS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[Outcome]]] = {
    "tls_refused": tls_refused,
    "spans_around_calls": spans_around_calls,
    "no_blocking": no_blocking,
    "hostile_input_4xx": hostile_input_4xx,
    "idempotent_per_owner": idempotent_per_owner,
    "rate_limited": rate_limited,
    "peer_keyed": peer_keyed,
    "hang_ends_at_timeout": hang_ends_at_timeout,
    "breaker_opens": breaker_opens,
    "pool_fits": pool_fits,
}
# the source address each check speaks from: its own rate-limit budget
SOURCES = {name: f"127.0.0.{10 + i}" for i, name in enumerate(CHECKS)}


def needed_checks(context: GateContext) -> set[str]:
    selected = context.cache.get("selected_items")
    return {
        e.check
        for item in context.checklist.items
        if selected is None or item.id in selected
        for e in item.evidence
        if isinstance(e, ProbeEvidence)
    }


def probe_results(context: GateContext) -> dict[str, Outcome]:
    """Every probe check the judged items need, run once per gate run."""
    if "probe" not in context.cache:
        started = time.monotonic()
        checks = needed_checks(context)
        try:
            results = _run(context, checks)
        except EvidenceError as exc:
            results = {c: Outcome.fail(f"error: {exc}") for c in checks}
        context.cache["probe"] = results
        context.cache["probe_seconds"] = time.monotonic() - started
    results = context.cache["probe"]
    return dict(results)


def _params(context: GateContext, check: str) -> dict[str, Any]:
    for item in context.checklist.items:
        for e in item.evidence:
            if isinstance(e, ProbeEvidence) and e.check == check:
                return dict(e.params)
    return {}


def _run(context: GateContext, checks: set[str]) -> dict[str, Outcome]:
    probe = context.spec.probe
    if probe is None:
        raise EvidenceError(
            f"the checklist has no [targets.{context.target}.probe]: nothing to run"
        )
    results: dict[str, Outcome] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gate-probe-")))
        group = stack.enter_context(ProcessGroup(logs / "logs"))
        session = Session(context, sources=SOURCES)
        session.ca_file = make_certificates(logs)
        pending = start_fakes(group, session, logs, tls="tls_refused" in checks)
        admin = context.env.get("DATABASE_URL") or EmbeddedPostgres(group).start()
        database = stack.enter_context(temporary_database(admin, prefix="probe"))
        for wait in pending:
            wait()
        names = ["main"] if checks - {"tls_refused"} else []
        if "tls_refused" in checks:
            names += ["untrusted"] + (["trusted"] if probe.ca_bundle_env else [])
        start_apps(group, session, logs, database, names)
        context.cache["probe_timings"] = {"setup": time.monotonic() - started}
        results = asyncio.run(_drive(session, checks))
        for app in session.apps.values():
            with contextlib.suppress(OSError):
                os.kill(app.pid, signal.SIGTERM)
    return results


async def _drive(session: Session, checks: set[str]) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    for name in CHECKS:
        if name not in checks:
            continue
        started = time.monotonic()
        try:
            results[name] = await CHECKS[name](session, _params(session.context, name))
        except EvidenceError as exc:
            results[name] = Outcome.fail(f"error: {exc}")
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            results[name] = Outcome.fail(
                f"error: the probe could not run: {type(exc).__name__}: {exc}"
            )
        session.context.cache["probe_timings"][name] = time.monotonic() - started
    return results


def probe_check(evidence: Any, context: GateContext) -> Outcome:
    outcome = probe_results(context).get(evidence.check)
    if outcome is None:
        return Outcome.fail(f"error: probe check {evidence.check} did not run")
    seconds = context.cache.get("probe_seconds")
    if seconds is not None:
        outcome = Outcome(
            outcome.passed, outcome.observed, list(outcome.details), warnings=list(outcome.warnings)
        )
        timings = context.cache.get("probe_timings", {})
        parts = [f"{k} {timings[k]:.1f}s" for k in ("setup", evidence.check) if k in timings]
        outcome.details.append(f"(the behavioural probe ran in {seconds:.1f}s: {', '.join(parts)})")
    return outcome
