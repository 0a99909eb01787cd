"""Dynamic evidence: named expectations from the newest chaos and load runs.

For each (run kind, target, scenario) the gate uses the newest ``reports/*/results.json``
of that kind that measured this target and scenario (so ``make chaos SCENARIO=llm_down``
refreshes one scenario without hiding the others). Results older than
``--max-age-hours``, or measured on another source tree than the one the gate runs on
(``testbed.provenance``: every file, committed or not, untracked included), or that
recorded no tree at all, are stale: they prove something about other code, so the item
fails and says what to run.

A ``results.json`` that cannot be read fails the evidence, naming the file, unless it
is older than the run the evidence was judged on (then it could not have changed the
verdict: the outcome carries a warning line instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaos.scenarios import SCENARIO_MODULES
from harness.checklist_schema import DynamicEvidence
from harness.evidence.base import GateContext, Outcome
from loadtests.scenarios import SCENARIOS
from testbed.provenance import stale_tree_reason
from testbed.results import (
    RESULTS_FILE,
    Expectation,
    ResultsError,
    RunResults,
    ScenarioResult,
    load_results,
)

RUN_COMMAND = {"chaos": "make chaos", "load": "make load SCENARIO={scenario}"}
# reports/<run-id>/: ``20261122-210501-chaos`` (``-2`` when two runs start in the same second)
RUN_ID = re.compile(r"^(?P<time>\d{8}-\d{6})-(?P<kind>[a-z0-9_-]+?)(?:-\d+)?$")


@dataclass
class Unreadable:
    """A ``results.json`` that could not be read; kind and start come from its run id."""

    path: Path
    error: str
    kind: str | None  # None: the directory is not named like a run id
    started: datetime | None  # the run id's time (UTC), else the file's mtime

    def concerns(self, kind: str) -> bool:
        return self.kind is None or self.kind == kind


@dataclass
class Runs:
    """Every readable run (of one kind, or all), newest first, and the unreadable files."""

    runs: list[RunResults]
    unreadable: list[Unreadable]

    def of_kind(self, kind: str) -> Runs:
        return Runs(
            [r for r in self.runs if r.kind == kind],
            [u for u in self.unreadable if u.concerns(kind)],
        )


def scan_reports(reports_dir: Path) -> Runs:
    """Every ``reports/*/results.json`` (``reports/latest`` is a link to one of them)."""
    runs: list[RunResults] = []
    unreadable: list[Unreadable] = []
    if reports_dir.is_dir():
        for file in sorted(reports_dir.glob(f"*/{RESULTS_FILE}")):
            if file.parent.is_symlink():  # reports/latest points at a run we also scan
                continue
            try:
                runs.append(load_results(file))
            except ResultsError as exc:
                unreadable.append(_unreadable(file, str(exc)))
    runs.sort(key=lambda r: _parse_time(r.created_at), reverse=True)
    return Runs(runs, unreadable)


def gate_runs(context: GateContext, kind: str | None = None) -> Runs:
    """The scanned reports, once per gate run (shared by the dynamic and config checks)."""
    if "runs" not in context.cache:
        context.cache["runs"] = scan_reports(context.reports_dir)
    scanned: Runs = context.cache["runs"]
    return scanned if kind is None else scanned.of_kind(kind)


def _unreadable(file: Path, error: str) -> Unreadable:
    match = RUN_ID.match(file.parent.name)
    started: datetime | None = None
    if match:
        started = datetime.strptime(match["time"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    else:
        try:
            started = datetime.fromtimestamp(file.stat().st_mtime, UTC)
        except OSError:
            started = None
    return Unreadable(file, error, match["kind"] if match else None, started)


def _parse_time(value: str | None) -> datetime:
    try:
        return datetime.fromisoformat(value or "")
    except ValueError:
        return datetime.min.replace(tzinfo=None)


def known_scenarios(kind: str) -> list[str] | None:
    """The scenario names the runners know (None when the runner is not installed)."""
    try:
        if kind == "chaos":
            return list(SCENARIO_MODULES)

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
    found = gate_runs(context, evidence.run)
    hint = RUN_COMMAND[evidence.run].format(scenario=evidence.scenario)
    pair = _newest_result(found.runs, context.target, evidence.scenario)
    used = pair[0] if pair else None
    blocking, older = _split_unreadable(found.unreadable, used)
    if blocking:
        return _unreadable_outcome(blocking, used, evidence, context, hint)
    if not found.runs:
        where = f" in {context.reports_dir}"
        return Outcome.fail(
            f"no {evidence.run} results: run {hint} first",
            [f"no readable {evidence.run} results.json{where}"],
        )
    if pair is None:
        return Outcome.fail(
            f"no {evidence.scenario!r} result for {context.target}: run {hint} first",
            [f"{len(found.runs)} {evidence.run} run(s) scanned; none measured "
             f"{context.target}/{evidence.scenario}"],
        )  # fmt: skip
    run, result = pair
    stale = _staleness(run, context, hint)
    outcome = _judge(evidence, result, run)
    if stale:
        # still say what the old run measured: useful, but not evidence about HEAD
        details = [*stale[1:], f"measured then: {outcome.observed}", *outcome.details]
        outcome = Outcome(False, f"stale: {stale[0]}", details, stale=True)
    outcome.warnings += [
        f"skipped unreadable {_show(u.path, context)} (older than run {run.run_id}): {u.error}"
        for u in older
    ]
    return outcome


def _split_unreadable(
    unreadable: list[Unreadable], used: RunResults | None
) -> tuple[list[Unreadable], list[Unreadable]]:
    """(files that may hold newer results than ``used``, files older than it)."""
    used_at = _parse_time(used.created_at) if used is not None else None
    if used_at is None or used_at.tzinfo is None:
        return unreadable, []
    blocking = [u for u in unreadable if u.started is None or u.started >= used_at]
    return blocking, [u for u in unreadable if u not in blocking]


def _unreadable_outcome(
    blocking: list[Unreadable],
    used: RunResults | None,
    evidence: DynamicEvidence,
    context: GateContext,
    hint: str,
) -> Outcome:
    first = _show(blocking[0].path, context)
    more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
    why = (
        f"it may hold newer {context.target}/{evidence.scenario} results than run {used.run_id}"
        if used is not None
        else f"no readable {evidence.run} run measured {context.target}/{evidence.scenario}"
    )
    return Outcome.fail(
        f"error: unreadable results {first}{more}: fix or delete it, or run {hint} again",
        [*(f"{_show(u.path, context)}: {u.error}" for u in blocking), why],
    )


def _show(path: Path, context: GateContext) -> str:
    for base in (context.repo_root, Path.cwd()):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def _newest_result(
    runs: list[RunResults], target: str, scenario: str
) -> tuple[RunResults, ScenarioResult] | None:
    for run in runs:
        result = run.find(target, scenario)
        if result is not None:
            return run, result
    return None


def _staleness(run: RunResults, context: GateContext, hint: str) -> list[str]:
    reasons = []
    created = _parse_time(run.finished_at or run.created_at)
    if created.tzinfo is not None:
        age_h = (context.now - created).total_seconds() / 3600
        if age_h > context.max_age_hours:
            reasons.append(
                f"run {run.run_id} is {age_h:.1f} h old "
                f"(> --max-age-hours {context.max_age_hours:g}); run {hint} first"
            )
    tree = stale_tree_reason(run.environment, context.source_tree, f"run {run.run_id}")
    if tree is not None:
        reasons.append(f"{tree}; run {hint} first")
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
