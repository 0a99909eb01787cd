"""The context a chaos scenario runs in on one target, and a fault step on its clock.

:class:`ScenarioContext` carries the target (``testbed.target.TargetInfo``, as the stack
recorded it), the run's HTTP client and time scale and the scenario's clock; it hands
out the target's injectors (Toxiproxy, the fakes' control API) through the testbed's
clients. A :class:`FaultStep` is one fault window on that clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from testbed import timeouts
from testbed.fakes import AsyncFakeControl
from testbed.target import TargetInfo
from testbed.toxiproxy_admin import AsyncToxiproxyAdmin


@dataclass
class ScenarioContext:
    """Everything a scenario touches on one target, plus the run's clock."""

    target: str
    endpoints: TargetInfo
    http: httpx.AsyncClient
    time_scale: float
    prefix: str  # unique per target, run and scenario: conversation ids and users carry it
    amqp_url: str | None = None
    t0: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the fault steps observed

    # production durations (docs/conventions.md §11), scaled like the services scale them
    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    @property
    def llm_timeout_s(self) -> float:
        return self.scaled(timeouts.LLM_TIMEOUT_S)

    @property
    def db_statement_timeout_s(self) -> float:
        return self.scaled(timeouts.DB_STATEMENT_TIMEOUT_S)

    @property
    def breaker_recovery_s(self) -> float:
        return self.scaled(timeouts.BREAKER_RECOVERY_S)

    @property
    def lb_timeout_s(self) -> float:
        return float(self.endpoints.lb_timeout_s)

    @property
    def app_timeout_s(self) -> float:
        return float(self.endpoints.app_timeout_s)

    @property
    def app_deadline_s(self) -> float | None:
        """The request deadline the target itself enforces (None: it has none), as the
        stack recorded it (``testbed.target.configured_app_deadline_s``)."""
        return self.endpoints.app_deadline_s

    def now(self) -> float:
        """Seconds since the scenario started (the clock of samples and fault windows)."""
        return time.monotonic() - self.t0

    @property
    def toxiproxy(self) -> AsyncToxiproxyAdmin:
        return self.endpoints.async_toxiproxy(self.http)

    def fake(self, kind: str) -> AsyncFakeControl:
        return self.endpoints.async_fake_control(kind, self.http)

    @property
    def is_refactored(self) -> bool:
        return self.target == "refactored"


@dataclass(frozen=True)
class FaultStep:
    """A fault active from ``start_s`` to ``end_s`` (scenario clock). ``apply`` returns
    whether the injector confirmed the fault (read back), which feeds the sanity checks."""

    label: str
    start_s: float
    end_s: float
    apply: Callable[[ScenarioContext], Awaitable[bool]]
    revert: Callable[[ScenarioContext], Awaitable[None]]
