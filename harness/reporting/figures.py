"""What a run report shows of each result: verdict marks, key figures, the expectations of a
scenario side by side per target, the figure rows; shared by the Markdown and the HTML."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from testbed.results import Expectation, RunResults, ScenarioResult

VERDICT_MARK = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "expected_fail": "🟠 expected_fail",
    "unexpected_pass": "🔵 unexpected_pass",
    "invalid": "⚠️ invalid",
}
VERDICT_COLOUR = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "expected_fail": "#bc4c00",
    "unexpected_pass": "#0969da",
    "invalid": "#9a6700",
}


def targets_of(run: RunResults) -> list[str]:
    seen: list[str] = []
    for r in run.results:
        if r.target not in seen:
            seen.append(r.target)
    return seen


def scenario_keys(run: RunResults) -> list[tuple[str, str]]:
    """(scenario, variant) in first-seen order."""
    seen: list[tuple[str, str]] = []
    for r in run.results:
        key = (r.scenario, r.variant)
        if key not in seen:
            seen.append(key)
    return seen


def scenario_label(scenario: str, variant: str) -> str:
    return f"{scenario} [{variant}]" if variant else scenario


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    else:
        text = str(value)
    return f"{text}{unit}" if unit and unit != "" else text


def key_figures(r: ScenarioResult) -> str:
    """One short line of what matters: requests, 5xx, p95, health p95, LLM calls/request."""
    parts = [f"{r.requests_total} req"]
    errors = sum(n for code, n in r.status_counts.items() if code.startswith("5"))
    if errors or r.transport_errors:
        parts.append(
            f"{errors} 5xx" + (f" +{r.transport_errors} err" if r.transport_errors else "")
        )
    if "p95" in r.latency_ms:
        parts.append(f"p95 {fmt(r.latency_ms['p95'])} ms")
    if "p95" in r.health_latency_ms:
        parts.append(f"health p95 {fmt(r.health_latency_ms['p95'])} ms")
    per_request = r.llm_calls.get("per_request") if r.llm_calls else None
    if per_request is not None:
        parts.append(f"LLM {fmt(per_request)}/req")
    return ", ".join(parts)


def expectation_rows(
    run: RunResults, scenario: str, variant: str, targets: Sequence[str]
) -> list[tuple[str, str, str, dict[str, Expectation | None]]]:
    """(name, description, threshold, {target: expectation}) in first-seen order."""
    rows: dict[str, tuple[str, str, dict[str, Expectation | None]]] = {}
    for target in targets:
        r = run.find(target, scenario, variant)
        if r is None:
            continue
        for e in r.expectations:
            if e.name not in rows:
                rows[e.name] = (e.description, f"{e.op} {fmt(e.threshold)}{e.unit}", {})
            rows[e.name][2][target] = e
    return [(name, d, thr, {t: by.get(t) for t in targets}) for name, (d, thr, by) in rows.items()]


def expectation_cell(e: Expectation | None) -> str:
    if e is None:
        return "—"
    mark = "✅" if e.passed else "❌"
    return f"{mark} {fmt(e.observed)}{e.unit if e.observed is not None else ''}"


def figure_rows(
    results: Sequence[ScenarioResult | None], targets: Sequence[str]
) -> list[list[str]]:
    def row(label: str, get: Any) -> list[str]:
        return [label, *[("—" if r is None else get(r)) for r in results]]

    def statuses(r: ScenarioResult) -> str:
        text = ", ".join(f"{k}: {v}" for k, v in sorted(r.status_counts.items()))
        return text + (f", errors: {r.transport_errors}" if r.transport_errors else "")

    def lat(summary: dict[str, float]) -> str:
        if not summary.get("count"):
            return "—"
        return " / ".join(fmt(summary.get(q)) for q in ("p50", "p95", "p99", "max")) + " ms"

    def alerts(r: ScenarioResult) -> str:
        return (
            ", ".join(f"{k} {r.alerts.get(k, 0)}" for k in ("P0", "P1", "P2")) if r.alerts else "—"
        )

    def integrity(r: ScenarioResult) -> str:
        return ", ".join(f"{k} {v}" for k, v in r.integrity.items()) if r.integrity else "—"

    def breakers(r: ScenarioResult) -> str:
        return (
            ", ".join(
                f"{t['dependency']} {t['from_state']}→{t['to_state']} x{t['count']}"
                for t in r.breaker_transitions
            )
            or "—"
        )

    del targets
    return [
        row("duration", lambda r: f"{r.duration_s:g} s"),
        row("requests", lambda r: str(r.requests_total)),
        row("status counts", statuses),
        row("latency p50 / p95 / p99 / max", lambda r: lat(r.latency_ms)),
        row("health probe during fault p50 / p95 / p99 / max", lambda r: lat(r.health_latency_ms)),
        row(
            "LLM calls (total, per request)",
            lambda r: (
                f"{r.llm_calls.get('total', '—')}, {fmt(r.llm_calls.get('per_request'))}"
                if r.llm_calls
                else "—"
            ),
        ),
        row("breaker transitions", breakers),
        row("alerts", alerts),
        row("integrity", integrity),
        row("event-loop lag max", lambda r: fmt(r.event_loop_lag_max_s, " s")),
    ]
