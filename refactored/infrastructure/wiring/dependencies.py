"""The HTTP dependencies: one pooled client each, the LLM and the Memory API adapters."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from refactored.application.ports import AlertSink, ConversationAnalyzer, MemoryStore
from refactored.core.resilience.breaker import CircuitBreaker
from refactored.infrastructure.http.clients import build_client
from refactored.infrastructure.http.llm import HttpxLlmAnalyzer
from refactored.infrastructure.http.memory import HttpxMemoryStore
from refactored.infrastructure.observability.tracing import Tracing
from refactored.infrastructure.wiring.assembly import Assembly
from refactored.infrastructure.wiring.policies import breakers, dependency_policy


@dataclass(frozen=True)
class Dependencies:
    analyzer: ConversationAnalyzer
    memory: MemoryStore
    breakers: dict[str, CircuitBreaker]


def http_client(a: Assembly, base_url: str, timeout_s: float | None) -> httpx.AsyncClient:
    """A client closed with the lifespan; its timeouts are off with the timeouts policy."""
    s = a.settings
    client = build_client(
        base_url,
        timeout_s=s.scaled_or_none(timeout_s or None),
        connect_timeout_s=s.scaled_or_none(s.connect_timeout_s),
        max_connections=s.http_max_connections,
        transport=s.http_transport,
        ca_bundle=s.http_ca_bundle,
    )
    a.closing(client.aclose)
    return client


def dependencies(a: Assembly, alerts: AlertSink, tracing: Tracing) -> Dependencies:
    """The LLM and Memory API adapters (or the test's), each behind its own policy."""
    s, o = a.settings, a.overrides
    guards = breakers(s, alerts)
    analyzer = o.analyzer or HttpxLlmAnalyzer(
        http_client(a, s.llm_base_url, s.llm_timeout_s),
        s.llm_model,
        s.llm_api_key,
        dependency_policy(s, "llm", s.llm_timeout_s, alerts, guards.get("llm"), o.retry_sleep),
        tracing.tracer(HttpxLlmAnalyzer.__module__),
    )
    memory_policy = dependency_policy(
        s, "memory", s.memory_timeout_s, alerts, guards.get("memory"), o.retry_sleep
    )
    memory = o.memory or HttpxMemoryStore(
        http_client(a, s.memory_api_url, s.memory_timeout_s),
        s.memory_api_key,
        memory_policy,
        tracing.tracer(HttpxMemoryStore.__module__),
    )
    return Dependencies(analyzer, memory, guards)
