"""A Locust rate threshold is judged only over enough requests: 0 errors out of 2 is not a
0 % error rate anyone can deploy on."""

from __future__ import annotations

import pytest

from loadtests.metrics import Sample, compute_metrics
from loadtests.model import MIN_RATE_SAMPLES, Threshold

pytestmark = pytest.mark.unit

END = "POST /v1/conversations/end"


def _samples(n: int, status: int = 200) -> list[Sample]:
    return [Sample(t_s=float(i), endpoint=END, status=status, latency_ms=20.0) for i in range(n)]


ERROR_RATE = Threshold("conversation_end_error_rate", "conversation_end_error_rate", "<=",
                       0.01, "conversation ends that failed")  # fmt: skip


def test_every_rate_records_the_samples_it_is_a_fraction_of() -> None:
    metrics = compute_metrics(_samples(7) + _samples(3, status=503))
    assert metrics["error_rate_samples"] == 10
    assert metrics["conversation_end_error_rate"] == pytest.approx(0.3)
    assert metrics["conversation_end_error_rate_samples"] == 10
    assert metrics["burst_429_fraction_samples"] == 0


def test_a_rate_over_too_few_requests_fails_as_not_judged() -> None:
    few = ERROR_RATE.evaluate(compute_metrics(_samples(MIN_RATE_SAMPLES - 1)), 0.1)
    assert few.observed == 0.0 and not few.passed and few.undersampled
    assert "not judged: 4 sample(s)" in few.describe()
    enough = ERROR_RATE.evaluate(compute_metrics(_samples(MIN_RATE_SAMPLES)), 0.1)
    assert enough.passed and enough.samples == MIN_RATE_SAMPLES


def test_counts_and_latencies_have_no_minimum() -> None:
    p99 = Threshold("p99", "p99_ms", "<", 1000, "p99")
    assert p99.evaluate(compute_metrics(_samples(1)), 0.1).passed
