"""Scenario timelines on the scaled clock: a short baseline, the fault, a recovery tail.

Fault windows are derived from the (scaled) timeouts they must outlast, with a floor so
that a fast time scale still leaves enough samples to measure.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE_S = 1.5  # healthy traffic before the fault: a reference and a warm pool


@dataclass(frozen=True)
class Timeline:
    fault_start_s: float
    fault_end_s: float
    end_s: float

    @classmethod
    def of(cls, fault_s: float, recovery_s: float, baseline_s: float = BASELINE_S) -> Timeline:
        return cls(baseline_s, baseline_s + fault_s, baseline_s + fault_s + recovery_s)
