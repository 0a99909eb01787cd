"""The resilience policies refactored can switch off (``RESILIENCE_DISABLE``).

The harness drives the services as processes and never imports them (import-linter), so
it keeps the names here; ``tests/unit/testbed/test_policies.py`` checks they equal
refactored's ``Policy`` enum, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

POLICIES: tuple[str, ...] = (
    "timeouts",
    "retry",
    "breaker",
    "fallbacks",
    "rate_limit",
    "pool_limits",
    "job_bulkhead",
    "outbox",
)
DISABLE_ENV = "RESILIENCE_DISABLE"


def disabled_policies(env: Mapping[str, str]) -> frozenset[str]:
    """The policies a service environment switches off."""
    return frozenset(p.strip() for p in env.get(DISABLE_ENV, "").split(",") if p.strip())
