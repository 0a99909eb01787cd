"""The checks scenarios compose into expectations: shares, percentiles, sanity checks
(the load ran, the fault was confirmed, it bit) and the database's integrity."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chaos.load_plan import END, Sample
from chaos.scenarios.measurements import Measurements
from testbed.results import Expectation, Op, Role
from testbed.stats import latency_summary


def share(samples: Iterable[Sample], predicate: Callable[[Sample], bool]) -> float | None:
    items = list(samples)
    if not items:
        return None
    return round(sum(1 for s in items if predicate(s)) / len(items), 4)


MIN_SHARE_SAMPLES = 5  # a fraction of fewer samples than this proves nothing


def share_check(
    name: str,
    description: str,
    samples: Iterable[Sample],
    predicate: Callable[[Sample], bool],
    op: Op,
    threshold: float,
    *,
    min_samples: int = MIN_SHARE_SAMPLES,
    role: Role = "resilience",
) -> Expectation:
    """The share of ``samples`` matching ``predicate`` against ``threshold``, judged only
    over at least ``min_samples`` samples: fewer fail with that reason, never a vacuous
    1.0 (e.g. "every failure was a 503" when nothing failed)."""
    items = list(samples)
    return Expectation.check(
        name, description, share(items, predicate), op, threshold,
        role=role, samples=len(items), min_samples=min_samples,
    )  # fmt: skip


def count(samples: Iterable[Sample], predicate: Callable[[Sample], bool]) -> int:
    return sum(1 for s in samples if predicate(s))


def pct_ms(samples: Iterable[Sample], q: str = "p95") -> float | None:
    summary = latency_summary(s.latency_ms for s in samples)
    value = summary.get(q)
    return None if value is None else round(float(value), 1)


def is_2xx(s: Sample) -> bool:
    return s.status is not None and 200 <= s.status < 300


def is_lb_504(s: Sample) -> bool:
    """A 504 the load balancer produced (the app's own deadline 504 names its error)."""
    return s.status == 504 and s.error != "deadline_exceeded"


def sanity_load(m: Measurements, minimum: int) -> Expectation:
    ends = [s for s in m.samples if s.endpoint == END]
    return Expectation.check(
        "load_conversation_ends",
        "the load really ran: conversation ends sent during the scenario",
        len(ends),
        ">=",
        minimum,
        role="sanity",
    )


def sanity_fault(m: Measurements) -> Expectation:
    return Expectation.check(
        "fault_injected",
        "every fault step was confirmed by its injector (Toxiproxy or the fake read back)",
        1.0 if m.faults_confirmed else 0.0,
        "==",
        1.0,
        role="sanity",
    )


def sanity_load_during_fault(
    m: Measurements, minimum: int, label: str | None = None
) -> Expectation:
    return Expectation.check(
        "load_during_fault",
        "conversation ends started while the fault was active",
        len(m.during(label)),
        ">=",
        minimum,
        role="sanity",
    )


def sanity_llm_answered(m: Measurements, status: int) -> Expectation:
    """The fake LLM really answered ``status`` (the injected error happened)."""
    statuses = m.llm_stats.get("responses_by_status", {})
    return Expectation.check(
        f"llm_answered_{status}",
        f"the fake LLM really answered {status}s",
        int(statuses.get(str(status), 0)),
        ">=",
        1,
        role="sanity",
    )


def integrity_expectations(m: Measurements) -> list[Expectation]:
    """Nothing lost, duplicated or half-written in the DB (see chaos.measure.integrity)."""
    i = m.integrity
    return [
        Expectation.check(
            "no_lost_updates",
            "friendships whose score misses a processed conversation's delta, plus 200 "
            "answers with no processed row",
            i.get("lost_updates"),
            "==",
            0,
        ),
        Expectation.check(
            "no_duplicated_updates",
            "friendships whose score counts a conversation twice",
            i.get("duplicated_updates"),
            "==",
            0,
        ),
        Expectation.check(
            "nothing_half_written",
            "processed conversations without their friendship update (or the reverse)",
            i.get("half_written"),
            "==",
            0,
        ),
        Expectation.check(
            "topic_metrics_consistent",
            "topic mention counts that differ from the processed conversations naming them",
            i.get("topic_mismatches"),
            "==",
            0,
        ),
    ]
