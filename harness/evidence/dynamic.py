"""Dynamic evidence: named expectations from the newest chaos and load runs.

For each (run kind, target, scenario) the gate uses the newest ``reports/*/results.json``
of that kind that measured this target and scenario (so ``make chaos SCENARIO=llm_down``
refreshes one scenario without hiding the others). Results older than
``--max-age-hours`` or produced by another git commit than HEAD are stale: they
prove something about other code, so the item fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.checklist import DynamicEvidence
from harness.evidence.base import GateContext, Outcome
from harness.results import (
    RESULTS_FILE,
    Expectation,
    ResultsError,
    RunResults,
    ScenarioResult,
    load_results,
)

RUN_COMMAND = {"chaos": "make chaos", "load": "make load SCENARIO={scenario}"}


@dataclass
class Runs:
    """Every readable run of one kind, newest first, and the files that could not be read."""

    runs: list[RunResults]
    unreadable: list[str]


def scan_runs(reports_dir: Path, kind: str) -> Runs:
    runs: list[RunResults] = []
    unreadable: list[str] = []
    if reports_dir.is_dir():
        for file in sorted(reports_dir.glob(f"*/{RESULTS_FILE}")):
            if file.parent.is_symlink():  # reports/latest points at a run we also scan
                continue
            try:
                run = load_results(file)
            except ResultsError as exc:
                unreadable.append(str(exc))
                continue
            if run.kind == kind:
                runs.append(run)
    runs.sort(key=lambda r: _parse_time(r.created_at), reverse=True)
    return Runs(runs, unreadable)


def _parse_time(value: str | None) -> datetime:
    try:
        return datetime.fromisoformat(value or "")
    except ValueError:
        return datetime.min.replace(tzinfo=None)


def known_scenarios(kind: str) -> list[str] | None:
    """The scenario names the runners know (None when the runner is not installed)."""
    try:
        if kind == "chaos":
            from chaos.scenarios import SCENARIO_MODULES

            return list(SCENARIO_MODULES)
        from loadtests.scenarios import SCENARIOS

        return list(SCENARIOS)
    except ImportError:
        return None


def dynamic_check(evidence: DynamicEvidence, context: GateContext) -> Outcome:
    known = context.cache.setdefault(f"scenarios:{evidence.run}", known_scenarios(evidence.run))
    if known is not None and evidence.scenario not in known:
        return Outcome.fail(
            f"checklist error: unknown {evidence.run} scenario {evidence.scenario!r}",
            [f"unknown {evidence.run} scenario {evidence.scenario!r}; known: {', '.join(known)}"],
        )
    key = f"runs:{evidence.run}"
    if key not in context.cache:
        context.cache[key] = scan_runs(context.reports_dir, evidence.run)
    found: Runs = context.cache[key]
    hint = RUN_COMMAND[evidence.run].format(scenario=evidence.scenario)
    if not found.runs:
        where = f" in {context.reports_dir}"
        return Outcome.fail(
            f"no {evidence.run} results: run {hint} first",
            [f"no readable {evidence.run} results.json{where}", *found.unreadable],
        )
    pair = _newest_result(found.runs, context.target, evidence.scenario)
    if pair is None:
        return Outcome.fail(
            f"no {evidence.scenario!r} result for {context.target}: run {hint} first",
            [f"{len(found.runs)} {evidence.run} run(s) scanned; none measured "
             f"{context.target}/{evidence.scenario}"],
        )  # fmt: skip
    run, result = pair
    stale = _staleness(run, context)
    outcome = _judge(evidence, result, run)
    if stale:
        # still say what the old run measured: useful, but not evidence about HEAD
        details = [*stale[1:], f"measured then: {outcome.observed}", *outcome.details]
        outcome = Outcome(False, f"stale: {stale[0]}", details, stale=True)
    return outcome


def _newest_result(
    runs: list[RunResults], target: str, scenario: str
) -> tuple[RunResults, ScenarioResult] | None:
    for run in runs:
        result = run.find(target, scenario)
        if result is not None:
            return run, result
    return None


def _staleness(run: RunResults, context: GateContext) -> list[str]:
    reasons = []
    created = _parse_time(run.finished_at or run.created_at)
    if created.tzinfo is not None:
        age_h = (context.now - created).total_seconds() / 3600
        if age_h > context.max_age_hours:
            reasons.append(
                f"run {run.run_id} is {age_h:.1f} h old "
                f"(> --max-age-hours {context.max_age_hours:g}); run it again"
            )
    commit = run.environment.get("git_commit")
    if commit and context.head_commit and commit != context.head_commit:
        reasons.append(
            f"run {run.run_id} tested commit {commit[:10]}, HEAD is {context.head_commit[:10]}; "
            "run it again"
        )
    started = _parse_time(run.created_at)
    committed = context.head_commit_time
    if not commit and committed and started.tzinfo is not None and started < committed:
        # the run does not record its commit: one started before HEAD was committed ran
        # older code (or a dirty tree), so it proves nothing about HEAD
        reasons.append(
            f"run {run.run_id} started {started:%Y-%m-%d %H:%M:%S} UTC, before HEAD was "
            f"committed ({committed.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC); run it again"
        )
    return reasons


def _judge(evidence: DynamicEvidence, result: ScenarioResult, run: RunResults) -> Outcome:
    source = f"{run.run_id}"
    if not result.sane:
        broken = [e.describe() for e in result.expectations if e.role == "sanity" and not e.passed]
        return Outcome.fail(
            f"invalid run: the fault or load did not happen ({source})",
            [f"sanity check failed: {line}" for line in broken],
        )
    chosen: list[Expectation]
    if not isinstance(evidence.expectations, list):  # "all"
        chosen = [e for e in result.expectations if e.role == "resilience"]
        if not chosen:
            return Outcome.fail(f"{result.scenario} has no resilience expectations ({source})")
    else:
        by_name = {e.name: e for e in result.expectations}
        unknown = [n for n in evidence.expectations if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            return Outcome.fail(
                f"checklist error: unknown expectation {unknown[0]} in scenario {result.scenario}",
                [f"unknown expectation {name} in scenario {result.scenario}; known: {known}"
                 for name in unknown],
            )  # fmt: skip
        chosen = [by_name[n] for n in evidence.expectations]
    failed = [e for e in chosen if not e.passed]
    observed = f"{len(chosen) - len(failed)}/{len(chosen)} expectations pass ({source})"
    if failed:
        observed = f"{failed[0].describe()} [{len(chosen) - len(failed)}/{len(chosen)} pass]"
    details = [("FAIL " if not e.passed else "ok   ") + e.describe() for e in chosen]
    return Outcome(not failed, observed, details)
