"""Run the three LLM analyses and the Memory API call concurrently, with fallbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from refactored.application.errors import DependencyUnavailable
from refactored.application.ports import ConversationAnalyzer, MemoryStore, Message
from refactored.domain.analysis import DEGRADED_ORDER, fallback_analysis
from refactored.domain.model import Analysis

log = logging.getLogger(__name__)

FallbackHook = Callable[[str], None]


@dataclass(frozen=True)
class AnalysisResult:
    analysis: Analysis
    degraded: list[str]
    known: dict[str, Any]  # the parts the LLM really answered (for a later re-score)


async def analyse_conversation(
    analyzer: ConversationAnalyzer,
    memory: MemoryStore | None,
    user_id: str,
    agent_id: str,
    messages: Sequence[Message],
    *,
    fallbacks: bool,
    on_fallback: FallbackHook | None = None,
    only: Sequence[str] = ("emotion", "questions", "topics"),
) -> AnalysisResult:
    """Ask the LLM (the fields in ``only``) and store memories, all at once.

    With ``fallbacks`` a failed part takes its fallback value (docs/scoring.md) and is named
    in ``degraded``; without, the first failure propagates (the legacy way).
    """
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "emotion": lambda: analyzer.emotion(messages),
        "questions": lambda: analyzer.user_questions(messages),
        "topics": lambda: analyzer.topics(messages),
    }
    calls = {name: call for name, call in calls.items() if name in only}
    if memory is not None:
        calls["memory"] = lambda: memory.add(user_id, agent_id, messages)
    names = list(calls)
    outcomes = await asyncio.gather(*(calls[n]() for n in names), return_exceptions=True)
    values: dict[str, Any] = {}
    degraded: list[str] = []
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, DependencyUnavailable) or not fallbacks:
                raise outcome
            log.warning("fallback used", extra={"field": name, "error": str(outcome)})
            degraded.append(name)
            if on_fallback is not None:
                on_fallback(name)
        else:
            values[name] = outcome
    degraded.sort(key=DEGRADED_ORDER.index)
    analysis = fallback_analysis(
        values.get("emotion"), values.get("questions"), values.get("topics")
    )
    known = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if k != "memory"
    }
    return AnalysisResult(analysis=analysis, degraded=degraded, known=known)
