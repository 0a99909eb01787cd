"""Tracing, the alert sink and the latency watch."""

from __future__ import annotations

from refactored.application.ports import AlertSink
from refactored.infrastructure.observability.alerts import GoogleChatAlertSink
from refactored.infrastructure.observability.latency import LatencyWatch
from refactored.infrastructure.observability.loop_lag import monitor_loop_lag
from refactored.infrastructure.observability.tracing import ExporterFactory, Tracing
from refactored.infrastructure.wiring.assembly import Assembly
from refactored.infrastructure.wiring.dependencies import http_client


def tracing(a: Assembly, exporter: ExporterFactory | None) -> Tracing:
    """Opened first, so closed last: every other adapter's spans have ended by then."""
    s = a.settings
    traces = Tracing(exporter, a.overrides.span_exporter)
    a.closing(traces.aclose, s.scaled(s.otel_flush_timeout_s))
    return traces


def alert_sink(a: Assembly) -> AlertSink:
    """The test's sink, else Google Chat (P2 alerts batched per window; no URL: logs only)."""
    if a.overrides.alerts is not None:
        return a.overrides.alerts
    s = a.settings
    client = None
    if s.alert_webhook_url:
        client = http_client(a, "http://alerts.invalid", s.alert_timeout_s)
    sink = GoogleChatAlertSink(client, s.alert_webhook_url, s.scaled(s.alert_p2_window_s))
    a.closing(sink.aclose)
    a.tasks.append(sink.run_p2_flusher())
    return sink


def latency_watch(a: Assembly, alerts: AlertSink) -> LatencyWatch:
    """Request latency percentiles against the alert thresholds; the event loop's lag."""
    s = a.settings
    a.tasks.append(monitor_loop_lag(s.loop_lag_interval_s))
    watch = LatencyWatch(alerts, s.scaled(s.alert_latency_p95_s), s.scaled(s.alert_latency_p99_s))
    a.tasks.append(watch.run(s.scaled(s.alert_p2_window_s)))
    return watch
