"""Contracts evidence: legacy and refactored score alike, read from the contract run's summary.

The contract tier (``make contracts``) writes ``reports/contracts/<run>/summary.json`` with
its counters and the source tree it compared (``testbed.provenance``). The gate takes the
newest summary: it proves "scores equal" when it measured the tree under judgement, is
younger than ``--max-age-hours``, found zero mismatches and tried at least
``min_examples`` examples and ``min_requests`` replayed requests. Any other tree, or a
summary without a tree, is stale and says what to run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.checklist_schema import ContractsEvidence
from harness.evidence.base import GateContext, Outcome
from testbed.provenance import stale_tree_reason

HINT = "make contracts"
SUMMARY = "summary.json"


def contracts_check(evidence: ContractsEvidence, context: GateContext) -> Outcome:
    files = summaries(context.reports_dir)
    if not files:
        where = context.reports_dir / "contracts"
        return Outcome.fail(
            f"no contract results: run {HINT} first", [f"no {SUMMARY} under {where}"]
        )
    newest = files[0]
    try:
        summary = json.loads(newest.read_text())
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return Outcome.fail(f"error: unreadable {newest}: run {HINT} again", [str(exc)])
    what = f"contract run {newest.parent.name}"
    stale = _staleness(summary, what, context)
    outcome = _judge(evidence, summary, what)
    if stale:
        details = [*stale[1:], f"measured then: {outcome.observed}", *outcome.details]
        return Outcome(False, f"stale: {stale[0]}", details, stale=True)
    return outcome


def _staleness(summary: dict[str, Any], what: str, context: GateContext) -> list[str]:
    reasons = []
    tree = stale_tree_reason(summary, context.source_tree, what)
    if tree is not None:
        reasons.append(f"{tree}; run {HINT} first")
    try:
        started = datetime.fromisoformat(str(summary.get("started_at")))
    except ValueError:
        started = None
    if started is None or started.tzinfo is None:
        reasons.append(f"{what} has no valid started_at; run {HINT} first")
    else:
        finished = started + timedelta(seconds=float(summary.get("duration_s") or 0))
        age_h = (context.now - finished).total_seconds() / 3600
        if age_h > context.max_age_hours:
            reasons.append(
                f"{what} is {age_h:.1f} h old (> --max-age-hours "
                f"{context.max_age_hours:g}); run {HINT} first"
            )
    return reasons


def _judge(evidence: ContractsEvidence, summary: dict[str, Any], what: str) -> Outcome:
    examples = _count(summary.get("examples_total"))
    requests = _count(summary.get("requests_replayed"))
    mismatches = _count(summary.get("mismatch_count"))
    observed = (
        f"{mismatches} mismatches over {examples} examples, {requests} replayed requests "
        f"({what}, profile {summary.get('profile', '?')})"
    )
    problems = []
    if mismatches != 0:
        problems += [
            f"mismatch in {m.get('check', '?')}: {m.get('input', '')!s:.200}"
            for m in summary.get("mismatches", [])[:5]
            if isinstance(m, dict)
        ] or [f"mismatch_count is {mismatches}"]
    if examples < evidence.min_examples:
        problems.append(f"only {examples} examples tried, the item needs {evidence.min_examples}")
    if requests < evidence.min_requests:
        problems.append(
            f"only {requests} requests replayed, the item needs {evidence.min_requests}"
        )
    return Outcome(not problems, observed, problems)


def _count(value: object) -> int:
    """A counter from the summary; anything else (missing, text) counts as -1: never enough."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def summaries(reports_dir: Path) -> list[Path]:
    """Every contract summary, newest first (run directories are named by UTC time)."""
    return sorted((reports_dir / "contracts").glob(f"*/{SUMMARY}"), reverse=True)
