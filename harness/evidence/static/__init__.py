"""Static evidence: checks of the target's code, without running it.

- ``async_rules``: ruff's ASYNC rules (blocking calls inside ``async def``), run on
  the target's package with ruff's defaults (``--isolated``), so a per-file ignore
  or a ``# noqa`` in the project cannot hide a finding (``ruff_rules``);
- ``blocking_calls_in_async``: blocking I/O reachable from an ``async def`` through the
  package's own sync functions (``blocking``);
- ``routes_rate_limited``: every FastAPI route has a rate-limit decorator (slowapi's
  ``@limiter.limit(...)``) (``routes``);
- ``http_timeouts``: every HTTP client or request names an explicit timeout (``clients``);
- ``tls_verified``: nothing turns TLS verification off (``clients``);
- ``breaker_guards``: every call to the LLM and the Memory API runs inside a circuit
  breaker (``breakers``; the calls found by ``dependency_calls``);
- ``traced_calls``: every such call runs inside a tracing span (``traced``).

The gate shows these as explanation where the behavioural probe measures the item.
"""

from __future__ import annotations

from harness.evidence.static.blocking import blocking_calls_in_async
from harness.evidence.static.breakers import breaker_guards
from harness.evidence.static.clients import http_timeouts, tls_verified
from harness.evidence.static.routes import routes_rate_limited
from harness.evidence.static.ruff_rules import async_rules
from harness.evidence.static.traced import traced_calls

STATIC_CHECKS = {
    "blocking_calls_in_async": blocking_calls_in_async,
    "traced_calls": traced_calls,
    "async_rules": async_rules,
    "routes_rate_limited": routes_rate_limited,
    "http_timeouts": http_timeouts,
    "tls_verified": tls_verified,
    "breaker_guards": breaker_guards,
}

__all__ = ["STATIC_CHECKS", "async_rules"]
