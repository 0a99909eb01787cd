"""The fault schedule that makes the services fall back: which requests of a sequence run
with the fake LLM / Memory API failing, and which fallbacks each fault should produce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contracts.traffic import ACTIVITIES_PATH, END_PATH, NIGHTLY_PATH, Request

# (fake, FaultConfig) cycled over the faulted conversations. Each fault persists for the
# whole request, so it outlasts refactored's 3 attempts (legacy: 1 attempt, no retry of
# a 5xx); each hits ONE dependency call, so the other calls still succeed.
CONVERSATION_FAULTS: tuple[dict[str, dict[str, Any]], ...] = (
    {"llm": {"tasks": ["emotion"], "error": {"status": 500, "mode": "all"}}},
    {"llm": {"tasks": ["questions"], "malformed": {"mode": "all"}}},
    {"llm": {"tasks": ["topics"], "error": {"status": 503, "mode": "all", "retry_after_s": 0}}},
    {"memory": {"error": {"status": 500, "mode": "all"}}},
)
# their conversations never fault: friendships compared with fault-free to the end
FAULT_FREE_USERS = frozenset({"u1"})
ACTIVITIES_FAULT = {"llm": {"tasks": ["activities"], "error": {"status": 500, "mode": "all"}}}
SUMMARY_FAULT = {"llm": {"tasks": ["summary"], "error": {"status": 500, "mode": "all"}}}
# the analysis fields a fault on an LLM task makes fall back, and the Memory API's
FALLBACK_FIELDS = {"emotion": "emotion", "questions": "questions", "topics": "topics"}


def fallback_schedule(requests: list[Request]) -> list[Request]:
    """The same requests with deterministic persistent faults attached.

    Every third new conversation (of users other than :data:`FAULT_FREE_USERS`,
    whose friendships stay comparable with fault-free to the end) gets one fault
    of :data:`CONVERSATION_FAULTS` in turn (emotion 500, questions malformed,
    topics 503, Memory API 500); every second activity suggestion whose LLM
    neighbours (the requests calling the LLM just before and after it) are not
    faulted, a 500 on the activities task; the last nightly a 500 on every
    summary (the old summaries must stay: all fail, whether by retries or by the
    breaker they open).
    Everything else runs with no fault (``{}``).

    Between two faulted LLM requests there is always one that succeeds, so
    refactored's LLM breaker (5 consecutive failures) never opens before the last
    nightly: a faulted request fails at most 3 attempts in a row, and a success
    resets the count.
    """
    seen: set[str] = set()
    new_conversations = 0
    last_nightly = max((i for i, r in enumerate(requests) if r.path == NIGHTLY_PATH), default=-1)
    faults: list[dict[str, dict[str, Any]]] = [{} for _ in requests]
    calls_llm: list[
        int
    ] = []  # the requests that call the LLM: new conversations, activities, nightlies
    for i, req in enumerate(requests):
        if req.path == END_PATH and req.body is not None:
            if req.body["conversation_id"] not in seen:
                seen.add(req.body["conversation_id"])
                calls_llm.append(i)
                if req.body["user_id"] in FAULT_FREE_USERS:
                    continue
                if new_conversations % 3 == 1:
                    faults[i] = CONVERSATION_FAULTS[
                        (new_conversations // 3) % len(CONVERSATION_FAULTS)
                    ]
                new_conversations += 1
        elif req.path in (ACTIVITIES_PATH, NIGHTLY_PATH):
            calls_llm.append(i)
    activities = 0
    for n, i in enumerate(calls_llm):
        if requests[i].path == ACTIVITIES_PATH:
            neighbours = calls_llm[max(0, n - 1) : n] + calls_llm[n + 1 : n + 2]
            if not any("llm" in faults[k] for k in neighbours):  # eligible
                if activities % 2 == 1:
                    faults[i] = ACTIVITIES_FAULT
                activities += 1
    if last_nightly >= 0:
        faults[last_nightly] = SUMMARY_FAULT
    return [replace(req, faults=f) for req, f in zip(requests, faults, strict=True)]


def expected_fallbacks(faults: Mapping[str, Mapping[str, Any]] | None) -> set[str]:
    """The ``degraded`` names a request's persistent faults force (conversation-end)."""
    names: set[str] = set()
    if not faults:
        return names
    llm = faults.get("llm") or {}
    persistent = any(
        (llm.get(kind) or {}).get("mode", "all") == "all" for kind in ("error", "malformed")
    )
    if persistent:
        names |= {FALLBACK_FIELDS[t] for t in llm.get("tasks") or () if t in FALLBACK_FIELDS}
    if (faults.get("memory") or {}).get("error"):
        names.add("memory")
    return names


def faulted_task(faults: Mapping[str, Mapping[str, Any]] | None, task: str) -> bool:
    llm = (faults or {}).get("llm") or {}
    return bool(llm) and task in (llm.get("tasks") or ())
