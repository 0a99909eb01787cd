"""What Locust's web UI shows about the scenarios: the *Scenarios* tab (each scenario, its
length at this scale, faults and thresholds) and the *Verdict* tab (the running or last
run: its state and active faults, then each threshold as results.json has it).

Locust-free rows (loadtests.locust_webui puts them into the UI), so unit tests read them.
"""

from __future__ import annotations

from typing import Any

from loadtests.model import scaled_stages
from loadtests.scenarios import SCENARIOS
from loadtests.session import Session

TABS = [{"title": "Scenarios", "key": "scenarios"}, {"title": "Verdict", "key": "verdict"}]
TABLES = [
    {
        "key": "scenarios",
        "structure": [
            {"key": "scenario", "title": "Scenario (pick it as the shape, or --scenario)"},
            {"key": "duration", "title": "Length at this scale"},
            {"key": "faults", "title": "Faults (applied from Locust, cleared at stop)"},
            {"key": "checks", "title": "Thresholds"},
            {"key": "description", "title": "What it reproduces"},
        ],
    },
    {
        "key": "verdict",
        "structure": [
            {"key": "check", "title": "Threshold"},
            {"key": "role", "title": "Role"},
            {"key": "observed", "title": "Observed"},
            {"key": "limit", "title": "Limit"},
            {"key": "outcome", "title": "Outcome"},
        ],
    },
]


def scenario_rows() -> list[dict[str, str]]:
    scale = Session.time_scale
    rows = []
    for scenario in SCENARIOS.values():
        stages = scaled_stages(scenario, scale)
        rows.append(
            {
                "scenario": scenario.name,
                "duration": f"{stages[-1].end_s:.0f} s (scale {scale:g})",
                "faults": "; ".join(f.label for f in scenario.faults) or "none",
                "checks": ", ".join(t.name for t in scenario.thresholds),
                "description": scenario.description,
            }
        )
    return rows


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g}{(' ' + unit) if unit else ''}"


def verdict_rows() -> list[dict[str, str]]:
    """The running or last scenario run: its state, then one row per threshold."""
    run = Session.current or Session.last
    if run is None:
        return [{"check": "no scenario run yet", "outcome": "pick a scenario and start"}]
    faults = ", ".join(run.driver.active_labels) if run.driver else ""
    head = {
        "check": f"{run.scenario.name} on {run.target.name if run.target else 'no stack'}",
        "role": "verdict",
        "observed": f"{run.out_dir}",
    }
    if run.result is None:
        state = run.error or ("judging..." if run.stopped else "running")
        return [{**head, "outcome": state, "limit": f"active faults: {faults or 'none'}"}]
    result = run.result
    rows = [
        {
            **head,
            "limit": f"LB 504s: {result.extra.get('lb_504_count')}",
            "outcome": result.verdict,
        }
    ]
    for e in result.expectations:
        rows.append(
            {
                "check": e.name,
                "role": e.role,
                "observed": _fmt(e.observed, e.unit),
                "limit": f"{e.op} {_fmt(e.threshold, e.unit)}",
                "outcome": "ok" if e.passed else "broken",
            }
        )
    return rows


def verdict_json() -> dict[str, Any]:
    run = Session.current or Session.last
    if run is None:
        return {"state": "idle"}
    return {
        "state": "done" if run.result or run.error else ("stopping" if run.stopped else "running"),
        "scenario": run.scenario.name,
        "target": run.target.name if run.target else None,
        "out_dir": str(run.out_dir),
        "active_faults": run.driver.active_labels if run.driver else [],
        "fault_windows": run.driver.windows if run.driver else [],
        "error": run.error,
        "result": run.result.to_dict() if run.result else None,
    }
