"""Counters of one contract run, written to reports/contracts/<run>/summary.json + report.md.

One process-wide collector: the tests add to it, the conftest writes it at session end.
The conftest records at session start which source tree the run compared
(``testbed.provenance``: ``source_tree``, ``git_commit``, ``git_dirty``), so the gate's
``contracts`` evidence can tell a summary of this tree from a stale one.
``REPORTS_DIR`` moves ``reports/`` (tests of the harness use a tmp dir).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class ContractRun:
    profile: str
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    examples_tried: dict[str, int] = field(default_factory=dict)
    sequences_replayed: int = 0
    requests_replayed: int = 0
    minimisation_replays: int = 0
    # per check: what it really compared (e.g. degraded answers checked against docs/scoring.md)
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[dict[str, object]] = field(default_factory=list)
    provenance: dict[str, object] = field(default_factory=dict)  # testbed.provenance facts

    def count_example(self, check: str) -> None:
        self.examples_tried[check] = self.examples_tried.get(check, 0) + 1

    def add_counts(self, check: str, counts: dict[str, int]) -> None:
        into = self.checks.setdefault(check, {})
        for k, v in counts.items():
            into[k] = into.get(k, 0) + v

    def add_mismatch(self, check: str, minimal_input: str, diff: list[str]) -> None:
        self.mismatches.append({"check": check, "input": minimal_input, "diff": diff})


def profile_name() -> str:
    return os.environ.get("CONTRACTS_PROFILE", "fast").strip() or "fast"


RUN = ContractRun(profile=profile_name())


def write_report(run: ContractRun, duration_s: float) -> Path | None:
    if not run.examples_tried and not run.sequences_replayed:
        return None  # no contract test ran in this session
    root = Path(os.environ.get("REPORTS_DIR", "reports")) / "contracts"
    run_dir = root / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = {k: v for k, v in asdict(run).items() if k != "provenance"} | {
        "duration_s": round(duration_s, 2),
        "examples_total": sum(run.examples_tried.values()),
        "mismatch_count": len(run.mismatches),
        **run.provenance,  # source_tree, git_commit, git_dirty at the top level
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [
        f"# Contract run ({run.profile})",
        "",
        f"- examples tried: {summary['examples_total']} "
        + ", ".join(f"{k}={v}" for k, v in sorted(run.examples_tried.items())),
        f"- sequences replayed: {run.sequences_replayed}",
        f"- requests replayed: {run.requests_replayed}"
        + (
            f" (minimisation: {run.minimisation_replays} replays)"
            if run.minimisation_replays
            else ""
        ),
        f"- mismatches: {len(run.mismatches)}",
        f"- duration: {duration_s:.1f} s",
    ]
    for check, counts in sorted(run.checks.items()):
        lines.append(f"- {check}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for m in run.mismatches:
        lines += ["", f"## {m['check']}", "", "```", str(m["input"]), *m["diff"], "```"]  # type: ignore[misc]
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")
    return run_dir
