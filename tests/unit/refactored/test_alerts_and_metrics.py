"""Alert cards (conventions §9) and the metric names the harness scrapes (§10)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from refactored.infrastructure.observability import metrics
from refactored.infrastructure.observability.alerts import GoogleChatAlertSink

pytestmark = pytest.mark.unit


def recording_client(posted: list[dict[str, Any]]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def titles(posted: list[dict[str, Any]]) -> list[str]:
    return [card["cards"][0]["header"]["title"] for card in posted]


async def test_p0_posted_at_once_as_a_google_chat_card_and_throttled_per_title() -> None:
    posted: list[dict[str, Any]] = []
    async with recording_client(posted) as client:
        sink = GoogleChatAlertSink(client, "http://hook/x", p2_window_s=60)
        sink.alert("P0", "Circuit breaker open: llm", "llm failed 5 times", "c1")
        sink.alert("P0", "Circuit breaker open: llm", "again")  # same window: one page
        sink.alert("P1", "Rate limited by llm (429)", "429")
        await sink.aclose()
    assert titles(posted) == ["[P0] Circuit breaker open: llm", "[P1] Rate limited by llm (429)"]
    card = posted[0]["cards"][0]
    assert card["header"]["subtitle"] == "Context Handling Module Alert"
    texts = [w["textParagraph"]["text"] for w in card["sections"][0]["widgets"]]
    assert texts[0] == "<b>Message:</b> llm failed 5 times"
    assert texts[1] == "<b>Conversation ID:</b> c1"


async def test_p2_batched_into_one_card_per_window() -> None:
    posted: list[dict[str, Any]] = []
    async with recording_client(posted) as client:
        sink = GoogleChatAlertSink(client, "http://hook/x", p2_window_s=60)
        for _ in range(50):
            sink.alert("P2", "Fallback used: emotion", "the emotion fallback value was used")
        sink.alert("P2", "Fallback used: memory", "skipped")
        assert posted == []  # nothing per request
        await sink.aclose()  # the window ends
    assert len(posted) == 1
    assert titles(posted) == ["[P2] 51 warnings in the last 60s"]
    text = posted[0]["cards"][0]["sections"][0]["widgets"][0]["textParagraph"]["text"]
    assert "Fallback used: emotion x50" in text and "Fallback used: memory x1" in text


async def test_without_webhook_alerts_are_only_logged() -> None:
    sink = GoogleChatAlertSink(None, None, p2_window_s=60)
    sink.alert("P0", "Database unavailable", "down")
    await sink.aclose()


def test_metric_names_are_exactly_the_conventions() -> None:
    metrics.breaker_state.labels("llm").set(0)
    metrics.fallbacks.labels("emotion")
    names = {m.name for m in REGISTRY.collect()}
    for name in (
        "http_request_duration_seconds",
        "dependency_call_duration_seconds",
        "retry_attempts",
        "circuit_breaker_state",
        "circuit_breaker_transitions",
        "fallbacks",
        "rate_limited",
        "outbox_backlog",
        "event_loop_lag_seconds",
        "event_loop_lag_max_seconds",
    ):
        assert name in names, name  # counters are collected without their _total suffix


def test_latency_alerts_p1_on_p99_and_p2_on_p95() -> None:
    from refactored.infrastructure.observability.latency import LatencyWatch
    from tests.unit.refactored.fakes import RecordingAlerts

    alerts = RecordingAlerts()
    watch = LatencyWatch(alerts, p95_threshold_s=2.0, p99_threshold_s=5.0)
    for _ in range(100):
        watch.observe(0.1)
    watch.check()
    assert alerts.alerts == []  # fast window
    for seconds in [0.1] * 90 + [3.0] * 8 + [6.0] * 2:
        watch.observe(seconds)
    watch.check()
    assert alerts.alerts == [
        ("P1", "Latency p99 above threshold"),
        ("P2", "Latency p95 above threshold"),
    ]
    watch.observe(60.0)
    watch.check()  # too few samples for a percentile
    assert len(alerts.alerts) == 2


async def test_event_loop_lag_monitor_sees_a_blocked_loop() -> None:
    import asyncio
    import time

    from refactored.infrastructure.observability.loop_lag import monitor_loop_lag

    before = metrics.event_loop_lag_max._value.get()
    task = asyncio.create_task(monitor_loop_lag(0.01))
    await asyncio.sleep(0.02)
    time.sleep(0.2)  # block the loop on purpose (what legacy does with every sync call)
    await asyncio.sleep(0.05)
    task.cancel()
    assert metrics.event_loop_lag_max._value.get() >= max(before, 0.15)
