"""The deploy gate: judge one target against the resilience checklist, item by item.

``run_gate`` gathers every item's evidence into a :class:`harness.gate_report.GateReport`
(which ``harness.gate_report`` writes as JUnit XML and a verdict file, and prints). An item
passes when all its decisive evidence passes; the gate passes when every item does. In an
item the behavioural probe measures, static reading is shown as explanation, never
decisive. ``run_gate(..., fresh_only=True)`` judges only the evidence the gate computes
itself (probe, static, config): how the gate's mutation tests judge a mutated copy of a
tree. ``expected_failure_problems`` says whether a report is exactly a target's expected
failure.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from harness.checklist import (
    Checklist,
    ConfigEvidence,
    ContractsEvidence,
    DynamicEvidence,
    ProbeEvidence,
    StaticEvidence,
)
from harness.evidence import CONFIG_CHECKS, STATIC_CHECKS
from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.behaviour import probe_check
from harness.evidence.contracts import contracts_check
from harness.evidence.dynamic import dynamic_check
from harness.gate_report import EvidenceResult, GateReport, ItemResult
from testbed.provenance import ProvenanceError, source_tree_hash
from testbed.timeouts import SERVICE_DEFAULT_TIME_SCALE

DEFAULT_MAX_AGE_HOURS = 24.0


def _git(repo_root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=repo_root, capture_output=True, text=True, timeout=10,
            check=False,
        )  # fmt: skip
    except OSError:
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def head_commit(repo_root: Path) -> str | None:
    return _git(repo_root, "rev-parse", "HEAD")


def head_commit_time(repo_root: Path) -> datetime | None:
    value = _git(repo_root, "log", "-1", "--format=%cI")
    return datetime.fromisoformat(value) if value else None


def current_tree(repo_root: Path) -> str | None:
    """The tree the gate judges; None when it cannot be hashed (every run is then stale)."""
    try:
        return source_tree_hash(repo_root)
    except ProvenanceError:
        return None


def run_gate(
    checklist: Checklist,
    target: str,
    *,
    checklist_path: Path,
    repo_root: Path,
    reports_dir: Path,
    max_age_hours: float = DEFAULT_MAX_AGE_HOURS,
    env: dict[str, str] | None = None,
    now: datetime | None = None,
    commit: str | None = None,
    commit_time: datetime | None = None,
    tree: str | None = None,
    only_items: set[str] | None = None,
    fresh_only: bool = False,
) -> GateReport:
    """Judge ``target``; ``commit``/``commit_time`` default to the repository's HEAD and
    ``tree`` to the hash of ``repo_root``'s files as they are now (``testbed.provenance``)."""
    env = dict(os.environ if env is None else env)
    if tree is None:
        tree = current_tree(repo_root)
    context = GateContext(
        repo_root=repo_root,
        target=target,
        spec=checklist.target(target),
        checklist=checklist,
        reports_dir=reports_dir,
        max_age_hours=max_age_hours,
        now=now or datetime.now(UTC),
        head_commit=commit if commit is not None else head_commit(repo_root),
        head_commit_time=commit_time if commit is not None else head_commit_time(repo_root),
        # the judged deployment's scale: the services' own default when it sets none
        time_scale=float(env.get("TIME_SCALE") or SERVICE_DEFAULT_TIME_SCALE),
        env=env,
        source_tree=tree,
    )
    report = GateReport(target, str(checklist_path), context.now.isoformat(), context.head_commit)
    report.source_tree = tree
    if only_items is not None:
        context.cache["selected_items"] = set(only_items)  # the probe runs only what they need
    for item in checklist.items:
        if only_items is not None and item.id not in only_items:
            continue
        measured = any(isinstance(e, ProbeEvidence) for e in item.evidence)
        results = [
            _evaluate(evidence, context, decisive=not (measured and evidence.kind == "static"))
            for evidence in item.evidence
            if not (fresh_only and evidence.kind in FRESH_EXCLUDED)
        ]
        if results:  # fresh_only: an item with run evidence only is not judged (never vacuous)
            report.items.append(ItemResult(item, results))
    return report


# what a copy of the tree cannot have (run evidence is bound to the tree that was run)
FRESH_EXCLUDED = frozenset({"dynamic", "contracts"})


def _evaluate(
    evidence: StaticEvidence | ConfigEvidence | DynamicEvidence | ContractsEvidence | ProbeEvidence,
    context: GateContext,
    *,
    decisive: bool = True,
) -> EvidenceResult:
    try:
        if isinstance(evidence, ProbeEvidence):
            outcome = probe_check(evidence, context)
        elif isinstance(evidence, StaticEvidence):
            outcome = STATIC_CHECKS[evidence.check](evidence, context)
        elif isinstance(evidence, ConfigEvidence):
            outcome = CONFIG_CHECKS[evidence.check](evidence, context)
        elif isinstance(evidence, ContractsEvidence):
            outcome = contracts_check(evidence, context)
        else:
            outcome = dynamic_check(evidence, context)
    except EvidenceError as exc:
        outcome = Outcome.fail(f"error: {exc}")
    return EvidenceResult(evidence.label(), evidence.kind, outcome, decisive)


# what a failure for want of evidence looks like (see the checks' messages): never the
# failure a target is expected to show
_NO_EVIDENCE = ("error:", "no ", "invalid run", "checklist error", "stale:")


def expected_failure_problems(report: GateReport, expected: set[str]) -> list[str]:
    """Why ``report`` is not exactly the failure expected of its target (empty: it is).

    Every item in ``expected`` must fail on evidence (not stale, missing or unreadable:
    those prove nothing about the target), and no other item may fail. An expected item
    that passes is a lost difference: the checklist no longer tells the targets apart.
    """
    known = {i.item.id for i in report.items}
    problems = [f"--expect-failures names {x}, which the checklist has not" for x in
                sorted(expected - known)]  # fmt: skip
    for result in report.items:
        item = result.item.id
        if item in expected and result.passed:
            problems.append(f"{item} passes on {report.target}, expected to fail: lost difference")
        elif item not in expected and not result.passed:
            problems.append(f"{item} fails on {report.target}, not an expected failure")
        elif item in expected:
            failing = [e for e in result.evidence if not e.outcome.passed and e.decisive]
            hollow = [e for e in failing if _no_evidence(e)]
            if len(hollow) == len(failing):
                why = "; ".join(f"{e.label}: {e.outcome.observed}" for e in hollow)
                problems.append(f"{item} fails for want of evidence, not as expected: {why}")
    return problems


def _no_evidence(result: EvidenceResult) -> bool:
    return result.outcome.stale or result.outcome.observed.startswith(_NO_EVIDENCE)
