"""A circuit breaker per dependency, on purgatory's state machine.

Purgatory counts failures, opens after ``threshold`` and half-opens after
``ttl``. On top of it this adapter adds what purgatory does not do and the
gate's breaker checks need: half-open admits a *single* probe (others fail fast while it is
in flight), and every transition is reported to ``on_transition`` (logs,
metrics, the P0 alert).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from refactored.core.resilience.errors import BreakerOpen, DeadlineExhausted, RequestRejected

T = TypeVar("T")
Transition = Callable[[str, str, str], None]  # (dependency, from_state, to_state)

# purgatory's state names -> the names of docs/conventions.md §4/§10
STATE_NAMES = {"closed": "closed", "opened": "open", "half-opened": "half_open"}


class CircuitBreaker:
    def __init__(
        self, name: str, threshold: int, recovery_s: float, on_transition: Transition | None = None
    ) -> None:
        self.name = name
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold,
            default_ttl=recovery_s,
            # A cancelled call (client gone), one never attempted for lack of time, or one
            # the dependency answered by refusing this request (a 400) says nothing bad
            # about the dependency's health (purgatory counts an excluded error as a call
            # that ended: the dependency did answer).
            exclude=[asyncio.CancelledError, DeadlineExhausted, RequestRejected],
        )
        self._factory.add_listener(self._on_event)
        self._on_transition = on_transition
        self._state = "closed"
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        return self._state

    def _on_event(self, name: str, event_type: str, event: object) -> None:
        if event_type != "state_changed":
            return
        new = STATE_NAMES.get(getattr(event, "state", ""), "closed")
        old, self._state = self._state, new
        if old != new and self._on_transition is not None:
            self._on_transition(self.name, old, new)

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        breaker = await self._factory.get_breaker(self.name)
        probing = breaker.context.state != "closed"
        if probing and self._probe_in_flight:
            raise BreakerOpen(f"{self.name} circuit half-open, probe in flight")
        try:
            async with breaker:
                if probing:
                    self._probe_in_flight = True
                return await attempt()
        except OpenedState as exc:
            raise BreakerOpen(f"{self.name} circuit open") from exc
        finally:
            if probing:
                self._probe_in_flight = False
