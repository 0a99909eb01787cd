"""The dependency policies (timeout, retry, breaker) and their metrics and alerts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import Histogram

from refactored.application.ports import AlertSink
from refactored.core.resilience.breaker import CircuitBreaker
from refactored.core.resilience.policy import DependencyPolicy
from refactored.core.resilience.retry import RetryConfig, RetryPolicy, Sleep
from refactored.core.settings import Policy, Settings
from refactored.infrastructure.observability import metrics

log = logging.getLogger("refactored.main")
BREAKER_DEPENDENCIES = ("llm", "memory")


def breakers(settings: Settings, alerts: AlertSink) -> dict[str, CircuitBreaker]:
    """One breaker per dependency; none when the breaker policy is switched off."""
    if not settings.enabled(Policy.BREAKER):
        return {}
    return {name: breaker(settings, name, alerts) for name in BREAKER_DEPENDENCIES}


def breaker(settings: Settings, name: str, alerts: AlertSink) -> CircuitBreaker:
    def on_transition(dependency: str, old: str, new: str) -> None:
        log.warning(
            "circuit breaker transition",
            extra={"dependency": dependency, "from_state": old, "to_state": new},
        )
        metrics.breaker_transitions.labels(dependency, old, new).inc()
        metrics.breaker_state.labels(dependency).set(metrics.BREAKER_STATE_VALUES[new])
        if new == "open":
            alerts.alert(
                "P0",
                f"Circuit breaker open: {dependency}",
                f"{dependency} failed {settings.circuit_breaker_failure_threshold} "
                "times; failing fast and using fallbacks",
            )

    metrics.breaker_state.labels(name).set(0)
    return CircuitBreaker(
        name,
        settings.circuit_breaker_failure_threshold,
        settings.scaled(settings.circuit_breaker_recovery_timeout),
        on_transition,
    )


def dependency_policy(
    settings: Settings,
    name: str,
    timeout_s: float,
    alerts: AlertSink,
    breaker: CircuitBreaker | None,
    sleep: Sleep | None,
) -> DependencyPolicy:
    """Timeout (scaled; None with timeouts off), retry (None with retry off), ``breaker``."""
    reserve = settings.scaled_or_none(settings.dependency_deadline_reserve_s) or 0.0

    durations: dict[str, Histogram] = {}  # per outcome: labels() locks and checks per call

    def observe(outcome: str, seconds: float) -> None:
        child = durations.get(outcome)
        if child is None:
            child = durations[outcome] = metrics.dependency_call_duration.labels(name, outcome)
        child.observe(seconds)
        if outcome == "rate_limited":
            alerts.alert("P1", f"Rate limited by {name} (429)", f"{name} answered 429")

    return DependencyPolicy(
        name=name,
        timeout_s=settings.scaled_or_none(timeout_s),
        retry=retry_policy(settings, name, reserve, sleep),
        breaker=breaker,
        observe=observe,
        deadline_reserve_s=reserve,
    )


def retry_policy(
    settings: Settings, name: str, reserve_s: float, sleep: Sleep | None
) -> RetryPolicy | None:
    if not settings.enabled(Policy.RETRY):
        return None
    s = settings
    config = RetryConfig(
        s.retry_attempts,
        s.scaled(s.retry_initial_s),
        s.scaled(s.retry_max_s),
        s.scaled(s.retry_jitter_s),
        s.scaled(s.retry_after_max_s),
    )
    return RetryPolicy(
        config,
        sleep=sleep or asyncio.sleep,
        on_retry=metrics.retry_attempts.labels(name).inc,
        deadline_reserve_s=reserve_s,
    )


def fallback_hook(alerts: AlertSink) -> Callable[[str], None]:
    def on_fallback(field: str) -> None:
        metrics.fallbacks.labels(field).inc()
        alerts.alert("P2", f"Fallback used: {field}", f"the {field} fallback value was used")

    return on_fallback
