"""FaultConfig (the body of ``PUT /_control/faults``) and the per-call fault decision.

Written by hand because what it models (every-nth / seeded-fraction answers,
hang until the faults are cleared) is this project's control contract
(docs/conventions.md §8), not something a mocking library offers for a real process.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["all", "every_nth", "fraction"]


class _Trigger(BaseModel):
    """When a fault fires among the matching calls."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "all"
    n: int | None = Field(default=None, ge=1, description="every_nth: fire on call n, 2n, ...")
    fraction: float | None = Field(default=None, ge=0.0, le=1.0, description="fraction: P(fire)")
    seed: int = Field(default=0, description="fraction: seed of random.Random")

    @model_validator(mode="after")
    def _mode_needs_its_parameter(self) -> Self:
        if self.mode == "every_nth" and self.n is None:
            raise ValueError("mode 'every_nth' needs 'n' (an integer >= 1)")
        if self.mode == "fraction" and self.fraction is None:
            raise ValueError("mode 'fraction' needs 'fraction' (a number between 0 and 1)")
        return self


class ErrorFault(_Trigger):
    status: int = Field(default=429, ge=400, le=599, description="HTTP status of the error")
    retry_after_s: float = Field(
        default=1.0, ge=0.0, description="Retry-After of a 429 (and of a 503)"
    )


class MalformedFault(_Trigger):
    """Answer 200 with a body that is not JSON."""


class FaultConfig(BaseModel):
    """The active faults of a fake; every field optional, the empty config means no fault."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0, ge=0, le=600_000)
    hang: bool = False
    error: ErrorFault | None = None
    malformed: MalformedFault | None = None
    tasks: list[str] | None = Field(
        default=None, description="fake LLM only: restrict the faults to these tasks"
    )


class _TriggerState:
    """Counts matching calls (every_nth) and draws (fraction) for one trigger of one config."""

    def __init__(self, trigger: _Trigger) -> None:
        self.trigger = trigger
        self.matching_calls = 0
        self.rng = random.Random(trigger.seed)

    def fires(self) -> bool:
        self.matching_calls += 1
        trigger = self.trigger
        if trigger.mode == "all":
            return True
        if trigger.mode == "every_nth":
            assert trigger.n is not None
            return self.matching_calls % trigger.n == 0
        assert trigger.fraction is not None
        return self.rng.random() < trigger.fraction


@dataclass(frozen=True)
class Decision:
    """What to do with one call: wait, hang, then answer an error / malformed / normally."""

    latency_s: float = 0.0
    hang: asyncio.Event | None = None  # wait until this is set (faults changed) or disconnect
    error: ErrorFault | None = None
    malformed: bool = False


NO_FAULT = Decision()


@dataclass
class ActiveFaults:
    """The fault configuration in force plus its counters; replaced as a whole by PUT."""

    config: FaultConfig = field(default_factory=FaultConfig)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    error_state: _TriggerState | None = None
    malformed_state: _TriggerState | None = None

    @classmethod
    def from_config(cls, config: FaultConfig) -> ActiveFaults:
        return cls(
            config=config,
            error_state=_TriggerState(config.error) if config.error else None,
            malformed_state=_TriggerState(config.malformed) if config.malformed else None,
        )

    def decide(self, task: str | None) -> Decision:
        config = self.config
        if config.tasks is not None and task not in config.tasks:
            return NO_FAULT
        error = config.error if self.error_state and self.error_state.fires() else None
        # Both triggers count every matching call so each every_nth/fraction
        # sequence is independent of the other; the error wins when both fire.
        malformed = bool(self.malformed_state and self.malformed_state.fires())
        if not (config.latency_ms or config.hang or error or malformed):
            return NO_FAULT
        return Decision(
            latency_s=config.latency_ms / 1000.0,
            hang=self.released if config.hang else None,
            error=error,
            malformed=malformed and error is None,
        )
