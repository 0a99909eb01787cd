"""Alert cards (docs/conventions.md §9) and the metric names the harness scrapes (§10)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from refactored.infrastructure.observability import alerts, metrics
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


async def test_without_webhook_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    posted: list[dict[str, Any]] = []
    async with recording_client(posted) as client:
        for sink in (
            GoogleChatAlertSink(None, None, p2_window_s=60),
            GoogleChatAlertSink(client, None, p2_window_s=60),  # a client but no URL: no post
        ):
            with caplog.at_level(logging.WARNING, logger=alerts.log.name):
                sink.alert("P0", "Database unavailable", "down", "c9")
                sink.alert("P2", "Fallback used: emotion", "neutral")
                await sink.aclose()  # flushes the P2 window: still nothing to post
    assert posted == [], "no webhook: nothing leaves the process"
    logged = [r for r in caplog.records if r.name == alerts.log.name and r.msg == "alert"]
    assert [(r.alert_level, r.title) for r in logged] == [  # type: ignore[attr-defined]
        ("P0", "Database unavailable"),
        ("P2", "Fallback used: emotion"),
    ] * 2
    assert logged[0].alert_message == "down" and logged[0].conversation_id == "c9"  # type: ignore[attr-defined]


CONVENTIONS = Path(__file__).resolve().parents[3] / "docs" / "conventions.md"
_TYPES = {"histogram", "counter", "gauge"}


def _conventions_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """docs/conventions.md §10 as {exposed name: (type, labels)}, read from its table."""
    text = CONVENTIONS.read_text()
    section = text[text.index("## 10.") : text.index("## 11.")]
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for row in re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", section, flags=re.M):
        name, spec = row
        kind = next(w for w in re.findall(r"[a-z]+", spec) if w in _TYPES)
        braces = re.search(r"\{([^}]*)\}", spec)
        labels = frozenset(x.strip() for x in braces[1].split(",")) if braces else frozenset()
        found[name] = (kind, labels)
        for extra, extra_kind in re.findall(r"`([a-z_]+)` (histogram|counter|gauge)", spec):
            found[extra] = (extra_kind, frozenset())
    return found


def _module_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Every metric the module defines, by the name /metrics exposes (counters + _total)."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            wrapper: Any = value  # prometheus_client keeps these private, untyped
            kind = str(wrapper._type)
            name = str(wrapper._name) + ("_total" if kind == "counter" else "")
            found[name] = (kind, frozenset(wrapper._labelnames))
    return found


def test_metric_names_are_exactly_the_conventions() -> None:
    """Names, types and labels: nothing missing, nothing the conventions do not list."""
    documented = _conventions_metrics()
    assert len(documented) >= 11, documented  # the table was read, not skipped
    assert _module_metrics() == documented
    metrics.breaker_state.labels("llm").set(0)
    metrics.fallbacks.labels("emotion").inc()
    exposed = {s.name for m in REGISTRY.collect() for s in m.samples}
    assert {"circuit_breaker_state", "fallbacks_total"} <= exposed


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
