"""Breakers count only the dependency's health: 5xx, 429, timeouts and connection errors.

A 4xx that says *this request* was wrong (400, 404, 422) still fails the call to its
fallback, is logged and counted, but never opens the breaker for everyone else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from refactored.infrastructure.observability import metrics
from tests.unit.refactored.app_harness import running, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import RecordingAlerts

pytestmark = pytest.mark.unit

SUGGEST = {"user_id": "u1", "agent_id": "a1", "limit": 3}


@contextmanager
def recorded(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records of logger ``name`` (the "refactored" tree does not propagate to caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _failed_calls() -> float:
    for metric in metrics.dependency_call_duration.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {
                "dependency": "llm",
                "outcome": "failed",
            }:
                return sample.value
    return 0.0


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_ten_request_errors_leave_the_breaker_closed(status: int) -> None:
    deps, alerts = FakeDependencies(fail={"*": status}), RecordingAlerts()
    failed_before = _failed_calls()
    async with running(deps, unit_overrides(alerts=alerts), rate_limit_enabled=False) as (
        app,
        client,
    ):
        with recorded("refactored.core.resilience.policy") as records:
            answers = [
                (await client.post("/v1/activities/suggest", json=SUGGEST)) for _ in range(10)
            ]
        state = app.state.container.breakers["llm"].state
    assert [a.json()["source"] for a in answers] == ["fallback"] * 10  # each call fell back
    assert deps.calls.count("activities") == 10  # no retry, and never cut off by a breaker
    assert state == "closed"
    assert not any("Circuit breaker open" in title for _, title in alerts.alerts)
    assert _failed_calls() - failed_before == 10  # counted ...
    assert sum("rejected the request" in r.getMessage() for r in records) == 10  # ... logged


@pytest.mark.parametrize("status", [503, 500, 429, 401])
async def test_five_dependency_failures_open_the_breaker(status: int) -> None:
    deps, alerts = FakeDependencies(fail={"*": status}), RecordingAlerts()
    overrides = unit_overrides(alerts=alerts)
    async with running(deps, overrides, rate_limit_enabled=False, retry_attempts=1) as (
        app,
        client,
    ):
        for _ in range(5):
            await client.post("/v1/activities/suggest", json=SUGGEST)
        state = app.state.container.breakers["llm"].state
        await client.post("/v1/activities/suggest", json=SUGGEST)
    assert state == "open"
    assert deps.calls.count("activities") == 5  # the sixth failed fast
    assert ("P0", "Circuit breaker open: llm") in alerts.alerts
