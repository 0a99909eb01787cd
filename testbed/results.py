"""The run results every chaos, load, bench and ablation run writes, and that compare/gate read.

One format for all of them (docs/conventions.md §13):
``reports/<run-id>/results.json`` holds a :class:`RunResults`, a list of
:class:`ScenarioResult` (one per target and scenario), each with its
:class:`Expectation` checks (observed value against threshold); :func:`write_results` and
:func:`load_results` are its file. Where a run goes is :mod:`testbed.run_dirs`, what it
records of its environment :mod:`testbed.run_facts`, the latency statistics
:mod:`testbed.stats`.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
LATEST_LINK = "latest"

Op = Literal["<", "<=", ">", ">=", "=="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
Role = Literal["resilience", "sanity"]
Verdict = Literal["pass", "fail", "expected_fail", "unexpected_pass", "invalid"]


class ResultsError(RuntimeError):
    """A results file is missing, unreadable or of another format."""


@dataclass
class Expectation:
    """One measured check. ``role="sanity"`` checks prove the fault and load really happened
    (they must pass on every target, else the scenario is ``invalid``); ``"resilience"``
    checks are what the fixes are about (legacy is expected to fail some)."""

    name: str
    description: str
    observed: float | None
    op: Op
    threshold: float
    passed: bool
    unit: str = ""
    role: Role = "resilience"
    # a share (fraction) is judged over ``samples``; fewer than ``min_samples`` prove
    # nothing (1.0 of nothing is not a pass): the check fails and says so
    samples: int | None = None
    min_samples: int = 0

    @classmethod
    def check(
        cls,
        name: str,
        description: str,
        observed: float | None,
        op: Op,
        threshold: float,
        *,
        unit: str = "",
        role: Role = "resilience",
        samples: int | None = None,
        min_samples: int = 0,
    ) -> Expectation:
        """Compare ``observed`` to ``threshold``; a missing observation (None, NaN) fails,
        and so does one measured over fewer than ``min_samples`` samples."""
        valid = observed is not None and not (isinstance(observed, float) and math.isnan(observed))
        enough = samples is None or samples >= min_samples
        passed = bool(valid and enough and _OPS[op](float(observed), float(threshold)))  # type: ignore[arg-type]
        return cls(
            name, description, observed, op, threshold, passed, unit, role, samples, min_samples
        )

    @property
    def undersampled(self) -> bool:
        return self.samples is not None and self.samples < self.min_samples

    def describe(self) -> str:
        observed = "missing" if self.observed is None else f"{self.observed:g}{self.unit}"
        text = f"{self.name}: observed {observed}, expected {self.op} {self.threshold:g}{self.unit}"
        if self.undersampled:
            text += (
                f" [not judged: {self.samples} sample(s), fewer than the {self.min_samples} "
                "a share needs]"
            )
        return text


@dataclass
class ScenarioResult:
    """What one scenario did to one target, measured."""

    target: str
    scenario: str
    kind: str  # "chaos" | "load" | "bench" | "ablation"
    started_at: str
    duration_s: float
    expectations: list[Expectation] = field(default_factory=list)
    expected_to_fail: bool = False  # legacy: the incident's failure is the expected outcome
    description: str = ""
    variant: str = ""  # e.g. the disabled policy in an ablation run
    requests_total: int = 0
    transport_errors: int = 0  # no HTTP status at all (connection refused/reset, client timeout)
    status_counts: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50 p95 p99 max mean
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    health_latency_ms: dict[str, float] = field(default_factory=dict)
    llm_calls: dict[str, Any] = field(default_factory=dict)  # total, by_task, per_request
    breaker_transitions: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, Any] = field(default_factory=dict)  # P0, P1, P2 counts, titles
    integrity: dict[str, Any] = field(default_factory=dict)
    event_loop_lag_max_s: float | None = None
    fault_windows: list[dict[str, Any]] = field(default_factory=list)  # label, start_s, end_s
    series: dict[str, Any] = field(default_factory=dict)  # see bucket_series
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sane(self) -> bool:
        return all(e.passed for e in self.expectations if e.role == "sanity")

    @property
    def passed(self) -> bool:
        return bool(self.expectations) and all(e.passed for e in self.expectations)

    @property
    def verdict(self) -> Verdict:
        if not self.sane:
            return "invalid"
        if self.expected_to_fail:
            return "unexpected_pass" if self.passed else "expected_fail"
        return "pass" if self.passed else "fail"

    def failed_expectations(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.passed]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["verdict"] = self.verdict
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioResult:
        fields = {k: v for k, v in data.items() if k not in {"passed", "verdict"}}
        fields["expectations"] = [Expectation(**e) for e in data.get("expectations", [])]
        return cls(**fields)


@dataclass
class RunResults:
    run_id: str
    kind: str
    created_at: str
    time_scale: float
    command: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    results: list[ScenarioResult] = field(default_factory=list)
    finished_at: str | None = None

    @property
    def passed(self) -> bool:
        """True when something ran and no result is ``fail``, ``invalid`` or
        ``unexpected_pass`` (legacy's expected failures are fine; legacy passing a scenario
        it must fail means the scenario lost its teeth: it no longer tells the targets
        apart). Ablation runs list their ``unexpected_pass`` variants (disabling that
        policy changed nothing) as findings instead. A run with no result proves nothing."""
        ok = {"pass", "expected_fail"} | ({"unexpected_pass"} if self.kind == "ablation" else set())
        return bool(self.results) and all(r.verdict in ok for r in self.results)

    def lost_differences(self) -> list[ScenarioResult]:
        """Results expected to fail that passed every expectation (``unexpected_pass``)."""
        return [r for r in self.results if r.verdict == "unexpected_pass"]

    def find(self, target: str, scenario: str, variant: str = "") -> ScenarioResult | None:
        for result in self.results:
            if (result.target, result.scenario, result.variant) == (target, scenario, variant):
                return result
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "kind": self.kind,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "time_scale": self.time_scale,
            "command": self.command,
            "environment": self.environment,
            "passed": self.passed,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ResultsError(
                f"results schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}; "
                "re-run the scenario with this version of the harness"
            )
        return cls(
            run_id=data["run_id"],
            kind=data["kind"],
            created_at=data["created_at"],
            finished_at=data.get("finished_at"),
            time_scale=float(data["time_scale"]),
            command=data.get("command", ""),
            environment=data.get("environment", {}),
            results=[ScenarioResult.from_dict(r) for r in data.get("results", [])],
        )


def lost_difference(result: ScenarioResult) -> str:
    """What an ``unexpected_pass`` means, in one line (the run fails on it)."""
    return (
        f"lost difference: {result.target} passed every expectation of {result.scenario}, "
        "which it is expected to fail: the scenario no longer tells legacy from refactored"
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def write_results(run: RunResults, run_dir: Path, *, update_latest: bool = True) -> Path:
    """Write ``results.json`` atomically and point ``reports/latest`` at ``run_dir``."""
    run.finished_at = run.finished_at or now_iso()
    path = run_dir / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run.to_dict(), indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    if update_latest:
        link = run_dir.parent / LATEST_LINK
        tmp_link = run_dir.parent / f".{LATEST_LINK}.tmp"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(run_dir.name)
        tmp_link.replace(link)
    return path


def load_results(path: Path) -> RunResults:
    """Read a run from ``reports/<run-id>`` or its ``results.json``, with a clear error."""
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.exists():
        raise ResultsError(f"no {RESULTS_FILE} in {path}: run `make chaos` or `make load` first")
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {file}: {exc}") from exc
    try:
        return RunResults.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{file} is not a harness results file: {exc!r}") from exc
