"""What a comparison puts side by side: with one run, each scenario's legacy result beside
its refactored result; with two runs, each (target, scenario, variant) both measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from testbed.results import RunResults, ScenarioResult, load_results


class CompareError(ValueError):
    """The runs cannot be compared (nothing in common, a single target...)."""


@dataclass
class Pair:
    key: str  # "llm_latency" or "legacy/llm_latency"
    left: ScenarioResult
    right: ScenarioResult


@dataclass
class Comparison:
    title: str
    left_label: str
    right_label: str
    pairs: list[Pair]
    runs: list[RunResults]


def _load(run: Path | RunResults) -> RunResults:
    return run if isinstance(run, RunResults) else load_results(Path(run))


def build_comparison(a: Path | RunResults, b: Path | RunResults | None) -> Comparison:
    run_a = _load(a)
    if b is None:
        return _legacy_vs_refactored(run_a)
    run_b = _load(b)
    keys_a = {(r.target, r.scenario, r.variant): r for r in run_a.results}
    pairs = []
    for r in run_b.results:
        left = keys_a.get((r.target, r.scenario, r.variant))
        if left is not None:
            name = "/".join(p for p in (r.target, r.scenario, r.variant) if p)
            pairs.append(Pair(name, left, r))
    if not pairs:
        raise CompareError(
            f"runs {run_a.run_id} and {run_b.run_id} measured nothing in common: "
            f"A has {_scenarios(run_a)}, B has {_scenarios(run_b)}"
        )
    return Comparison(
        f"{run_a.run_id} vs {run_b.run_id}",
        f"A {run_a.run_id}",
        f"B {run_b.run_id}",
        pairs,
        [run_a, run_b],
    )


def _legacy_vs_refactored(run: RunResults) -> Comparison:
    by_key = {(r.target, r.scenario, r.variant): r for r in run.results}
    pairs = []
    for (target, scenario, variant), left in by_key.items():
        if target != "legacy":
            continue
        right = by_key.get(("refactored", scenario, variant))
        if right is not None:
            pairs.append(Pair("/".join(p for p in (scenario, variant) if p), left, right))
    if not pairs:
        targets = sorted({r.target for r in run.results}) or ["none"]
        raise CompareError(
            f"run {run.run_id} has no scenario measured on both legacy and refactored "
            f"(targets: {', '.join(targets)}); run with TARGET=both, or pass --b to compare "
            "two runs"
        )
    return Comparison(f"legacy vs refactored: {run.run_id}", "legacy", "refactored", pairs, [run])


def _scenarios(run: RunResults) -> str:
    names = sorted({f"{r.target}/{r.scenario}" for r in run.results})
    return ", ".join(names) or "no results"
