"""Fault effects: did the fault *bite*? Each measured outside the target, during its window.

``fault_injected`` only reads the injector back (Toxiproxy lists the toxic, the fake lists
its faults). That is not proof the target was hit: a fault on a path the target does not
use, or one that changes nothing, leaves healthy fast 200s that pass every expectation.
So each scenario names, in ``Scenario.fault_effect``, what the fault must visibly do to
the traffic, seen where both targets are seen alike: the calls and answers the fakes
counted (sampled on the scenario clock, ``Measurements.fake_series``), the latency and the
answers the client got, the events the broker delivered. All are ``role="sanity"``: no
effect makes the run ``invalid`` (neither pass nor fail), on either target.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.load_plan import END, Sample
from chaos.scenarios.checks import pct_ms, share
from chaos.scenarios.measurements import Measurements
from testbed.results import Expectation, Op


def _window(m: Measurements, label: str | None) -> tuple[float, float]:
    return m.window(label)


def fake_calls_during(
    m: Measurements, kind: str, label: str | None = None, minimum: int = 1
) -> Expectation:
    """Calls the fake ``kind`` received while the fault was active (its traffic went on)."""
    start, end = _window(m, label)
    delta = m.fake_delta(kind, start, end, lambda st: float(st.get("calls_total", 0)))
    return Expectation.check(
        f"effect_{kind}_calls_during_fault",
        f"calls the fake {kind} received during the fault window (the target's traffic "
        "really crossed the faulted path)",
        None if delta is None else int(delta),
        ">=",
        minimum,
        role="sanity",
    )


def fake_answered_during(
    m: Measurements, kind: str, status: int, label: str | None = None, minimum: int = 1
) -> Expectation:
    """The fake answered the injected ``status`` to the target during the window."""
    start, end = _window(m, label)
    return Expectation.check(
        f"effect_{kind}_answered_{status}",
        f"{status} answers the fake {kind} gave the target during the fault window",
        m.fake_answered_between(kind, status, start, end),
        ">=",
        minimum,
        role="sanity",
    )


def fake_held_calls(m: Measurements, kind: str = "llm", minimum: int = 1) -> Expectation:
    """Calls the fake held with its ``hang`` fault (over the run: a hang exists only then)."""
    last = m.fake_stats_at(kind, float("inf"))
    held = None if last is None else int(last.get("hangs", {}).get("held", 0))
    return Expectation.check(
        f"effect_{kind}_calls_held",
        f"calls the fake {kind} held without answering (the hang reached the target's calls)",
        held,
        ">=",
        minimum,
        role="sanity",
    )


def baseline_ends(m: Measurements) -> list[Sample]:
    """Conversation ends answered before the first fault started."""
    first = min((float(w["start_s"]) for w in m.windows), default=float("inf"))
    return [s for s in m.samples if s.endpoint == END and s.t_s + s.latency_ms / 1000 < first]


def added_latency(
    m: Measurements, minimum_ms: float, label: str | None = None, q: str = "max"
) -> Expectation:
    """The client saw the fault: conversation ends started in the window took at least
    ``minimum_ms`` longer (their ``q`` latency) than the baseline's median."""
    during = m.during(label)
    base = pct_ms(baseline_ends(m), "p50")
    worst = pct_ms(during, q)
    added = None if base is None or worst is None else round(worst - base, 1)
    return Expectation.check(
        "effect_added_latency_ms",
        f"{q} conversation-end latency during the fault minus the baseline's median (the "
        "client waited for the faulted dependency)",
        added,
        ">=",
        round(minimum_ms, 1),
        unit="ms",
        role="sanity",
    )


def answers_show_fault(
    m: Measurements,
    predicate: Callable[[Sample], bool],
    what: str,
    minimum_share: float,
    label: str | None = None,
    settle_s: float = 0.0,
) -> Expectation:
    """Conversation ends during the window (from ``settle_s`` in) whose answer shows the
    fault (an error status, a named fallback...): healthy answers mean it did not bite."""
    start, _end = _window(m, label)
    during = [s for s in m.during(label) if s.t_s >= start + settle_s]
    return Expectation.check(
        "effect_answers_show_fault",
        f"share of conversation ends during the fault whose answer shows it: {what}",
        share(during, predicate),
        ">=",
        minimum_share,
        role="sanity",
    )


def counted(
    name: str, description: str, observed: float | None, op: Op, threshold: float
) -> Expectation:
    """Any other outside count as a sanity check (e.g. events delivered during an outage)."""
    return Expectation.check(name, description, observed, op, threshold, role="sanity")
