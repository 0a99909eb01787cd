"""What a chaos scenario measured on one target, and the readings scenarios take of it.

The engine fills a :class:`Measurements` (samples, health probes, fault windows, the
fakes' counters over time, metrics before and after, alert cards, integrity); a
scenario's ``evaluate`` reads it through the methods here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.load_plan import END, Sample, in_window
from testbed.alerts import alert_summary
from testbed.metrics import Samples, breaker_transitions, gauge_max

ANALYSIS_TASKS = ("emotion", "questions", "topics")


@dataclass
class Measurements:
    """What a scenario measured on one target; ``evaluate`` turns it into expectations."""

    samples: list[Sample]
    health: list[Sample]
    windows: list[dict[str, Any]]  # label, start_s, end_s
    llm_stats: dict[str, Any] = field(default_factory=dict)
    metrics_before: Samples = field(default_factory=dict)
    metrics_after: Samples = field(default_factory=dict)
    cards: list[dict[str, Any]] = field(default_factory=list)
    integrity: dict[str, Any] = field(default_factory=dict)
    faults_confirmed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    # the fakes' /_control/stats sampled on the scenario clock: kind -> [(t_s, stats)]
    fake_series: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)

    # ---- windows
    def window(self, label: str | None = None) -> tuple[float, float]:
        """The fault window (first one, or the one named ``label``)."""
        for w in self.windows:
            if label is None or w["label"] == label:
                return float(w["start_s"]), float(w["end_s"])
        raise KeyError(f"no fault window {label!r}")

    def during(self, label: str | None = None, endpoint: str | None = END) -> list[Sample]:
        start, end = self.window(label)
        return [s for s in in_window(self.samples, start, end) if endpoint in (None, s.endpoint)]

    def after(self, start_s: float, endpoint: str | None = END) -> list[Sample]:
        return [s for s in self.samples if s.t_s >= start_s and endpoint in (None, s.endpoint)]

    def health_during(self, label: str | None = None) -> list[Sample]:
        start, end = self.window(label)
        return in_window(self.health, start, end)

    # ---- what the fakes saw, from their sampled counters (the same on every target)
    def fake_stats_at(self, kind: str, t_s: float) -> dict[str, Any] | None:
        """The fake's counters as last sampled at or before ``t_s`` (else the first sample)."""
        series = self.fake_series.get(kind) or []
        chosen = series[0][1] if series else None
        for at, stats in series:
            if at > t_s:
                break
            chosen = stats
        return chosen

    def fake_delta(
        self, kind: str, start_s: float, end_s: float, read: Callable[[dict[str, Any]], float]
    ) -> float | None:
        """How much ``read(stats)`` grew between two instants (None: never sampled)."""
        before, after = self.fake_stats_at(kind, start_s), self.fake_stats_at(kind, end_s)
        if before is None or after is None:
            return None
        return read(after) - read(before)

    def llm_calls_between(self, start_s: float, end_s: float) -> int | None:
        """Analysis calls (emotion, questions, topics) that reached the fake LLM."""
        delta = self.fake_delta("llm", start_s, end_s, analysis_calls)
        return None if delta is None else int(delta)

    def fake_answered_between(
        self, kind: str, status: int, start_s: float, end_s: float
    ) -> int | None:
        """Answers with ``status`` the fake gave between two instants."""

        def answered(stats: dict[str, Any]) -> float:
            return float(stats.get("responses_by_status", {}).get(str(status), 0))

        delta = self.fake_delta(kind, start_s, end_s, answered)
        return None if delta is None else int(delta)

    # ---- breaker transitions from circuit_breaker_transitions_total (delta over the run)
    def breaker_transitions(self) -> list[dict[str, Any]]:
        return breaker_transitions(self.metrics_after, self.metrics_before)

    def transitions_to(self, dependency: str, to_state: str) -> int | None:
        """None when the target exposes no metrics at all (legacy): not measurable = fail."""
        if not self.metrics_after:
            return None
        return sum(
            t["count"]
            for t in self.breaker_transitions()
            if t["dependency"] == dependency and t["to_state"] == to_state
        )

    def gauge_max(self, name: str) -> float | None:
        return gauge_max(self.metrics_after, name)

    # ---- alerts
    def alerts(self) -> dict[str, Any]:
        return alert_summary(self.cards)

    # ---- LLM amplification
    def llm_calls(self) -> dict[str, Any]:
        by_task = dict(self.llm_stats.get("calls_by_task", {}))
        analysis = sum(int(by_task.get(t, 0)) for t in ANALYSIS_TASKS)
        ends = sum(1 for s in self.samples if s.endpoint == END)
        return {
            "total": int(self.llm_stats.get("calls_total", 0)),
            "by_task": by_task,
            "analysis_calls": analysis,
            "conversation_ends": ends,
            "per_request": round(analysis / ends, 3) if ends else None,
            "max_in_flight": self.llm_stats.get("max_in_flight"),
        }


def analysis_calls(stats: Mapping[str, Any]) -> float:
    """Analysis calls in one reading of the fake LLM's counters."""
    by_task = stats.get("calls_by_task", {})
    return float(sum(int(by_task.get(task, 0)) for task in ANALYSIS_TASKS))
