"""The probe's rate-limit checks: requests 1..N of a route pass, N+1 is 429 (N the
checklist's), also when one peer forges a new X-Forwarded-For each time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.evidence.base import Outcome
from harness.evidence.behaviour.session import Session


def _route(params: dict[str, Any]) -> tuple[str, str, int]:
    method, _, path = str(params.get("route", "POST /v1/conversations/end")).partition(" ")
    return method, path, int(params.get("limit", 100))


async def _burst(
    session: Session, check: str, params: dict[str, Any], headers: Callable[[int], dict[str, str]]
) -> list[int]:
    app = session.app()
    method, path, limit = _route(params)
    statuses = []
    async with session.client(check) as c:
        for i in range(limit + 1):
            answer = await c.request(method, f"{app.base_url}{path}", json={}, headers=headers(i))
            statuses.append(answer.status_code)
    return statuses


def _judge_burst(statuses: list[int], limit: int, how: str) -> Outcome:
    early = [i + 1 for i, s in enumerate(statuses[:-1]) if s == 429]
    last = statuses[-1]
    observed = f"request {limit + 1} {how}: {last}; requests 1..{limit}: {len(early)} refused"
    problems = []
    if early:
        problems.append(
            f"request {early[0]} was already 429: the limit is below the checklist's {limit}"
        )
    if last != 429:
        problems.append(f"request {limit + 1} answered {last}, not 429: no limit of {limit}/minute")
    return Outcome(not problems, observed, problems)


async def rate_limited(session: Session, params: dict[str, Any]) -> Outcome:
    _, _, limit = _route(params)
    return _judge_burst(
        await _burst(session, "rate_limited", params, lambda i: {}), limit, "from one peer"
    )


async def peer_keyed(session: Session, params: dict[str, Any]) -> Outcome:
    _, _, limit = _route(params)
    forged = lambda i: {"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"}  # noqa: E731
    return _judge_burst(
        await _burst(session, "peer_keyed", params, forged),
        limit,
        "from one peer, each with a new forged X-Forwarded-For",
    )
