"""The run results every chaos, load, bench and ablation run writes, and that compare/gate read.

One format for all of them (docs/conventions.md §13):
``reports/<run-id>/results.json`` holds a :class:`RunResults`, a list of
:class:`ScenarioResult` (one per target and scenario), each with its
:class:`Expectation` checks (observed value against threshold).
"""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from testbed.provenance import ProvenanceError, provenance
from testbed.settings import harness_settings

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


def reports_dir() -> Path:
    """Where runs are written: ``REPORTS_DIR`` or ``./reports`` (``testbed.settings``)."""
    return harness_settings().reports_dir


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


def new_run_id(kind: str) -> str:
    """Sortable and readable: ``20261122-210501-chaos``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{re.sub(r'[^a-z0-9_-]+', '-', kind.lower())}"


def new_run_dir(kind: str, base: Path | None = None) -> Path:
    """Create ``reports/<run-id>/`` (unique even for two runs in the same second)."""
    base = base or reports_dir()
    base.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(kind)
    candidate, n = base / run_id, 1
    while candidate.exists():
        n += 1
        candidate = base / f"{run_id}-{n}"
    candidate.mkdir()
    return candidate


def git_facts() -> dict[str, Any]:
    """What the run tested (``testbed.provenance``): the source tree's hash, committed or
    not, which the gate compares with the tree it runs on, and the commit for people."""
    try:
        return provenance().to_facts()
    except ProvenanceError as exc:  # the run goes on; the gate will call it stale
        return {"source_tree_error": str(exc)}


def database_facts(database_url: str) -> dict[str, Any]:
    """The PostgreSQL server's connection limits, for the gate's ``pool_budget``: the gate
    may run after the server is gone (the embedded one stops with the stack). Never raises:
    a fact that cannot be read is recorded as ``max_connections_error``."""
    from testbed.postgres import PostgresUnavailableError, connection_limits

    try:
        max_connections, reserved = connection_limits(database_url)
    except Exception as exc:  # ImportError, psycopg2.Error, a bad answer: the run goes on
        error: BaseException = exc
        if isinstance(exc, PostgresUnavailableError) and exc.__cause__ is not None:
            error = exc.__cause__  # the driver's own error, without the stack-boot advice
        return {"max_connections_error": f"{type(error).__name__}: {error}".strip()[:300]}
    return {"max_connections": max_connections, "superuser_reserved_connections": reserved}


def environment_facts(**extra: Any) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **git_facts(),
        **extra,
    }


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


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    values = sorted(latencies_ms)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1],
        "mean": sum(values) / len(values),
    }


def bucket_series(
    samples: Iterable[tuple[float, int | None, float]], bucket_s: float = 1.0
) -> dict[str, Any]:
    """Per-bucket series from ``(t_s since start, status or None, latency_ms)`` samples.

    ``status`` None is a transport error (counted under ``"error"``). Buckets are
    by request *start* time; empty buckets inside the run are kept (zeros).
    """
    rows = sorted(samples, key=lambda sample: sample[0])  # statuses may be None: sort by time
    if not rows:
        return {"bucket_s": bucket_s, "t_s": []}
    n = int(rows[-1][0] // bucket_s) + 1
    latencies: list[list[float]] = [[] for _ in range(n)]
    status: dict[str, list[int]] = {}
    for t, code, latency in rows:
        i = int(t // bucket_s)
        latencies[i].append(latency)
        key = "error" if code is None else str(code)
        status.setdefault(key, [0] * n)[i] += 1

    def pct(q: float) -> list[float | None]:
        return [percentile(sorted(b), q) if b else None for b in latencies]

    return {
        "bucket_s": bucket_s,
        "t_s": [round(i * bucket_s, 3) for i in range(n)],
        "requests": [len(b) for b in latencies],
        "rps": [len(b) / bucket_s for b in latencies],
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "status": status,
    }
