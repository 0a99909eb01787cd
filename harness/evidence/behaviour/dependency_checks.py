"""The probe's checks on the dependency calls: a failing dependency opens a breaker, a hanging
one is cut at its timeout with the fallback answered, TLS refuses an untrusted CA, and every
call runs in a span of its dependency (each counted at the fakes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from harness.evidence.base import EvidenceError, Outcome
from harness.evidence.behaviour.requests import (
    DEPENDENCY_ROUTE,
    FALLBACK_USED,
    FAULT_SCOPE,
    answer_json,
    conversation,
    dependency_body,
    suggest,
    unique,
)
from harness.evidence.behaviour.session import Session
from harness.evidence.config import settings_values

MARGIN_S = 0.5  # a cut may come this late after the timeout (scheduling, connect)


async def breaker_opens(session: Session, params: dict[str, Any]) -> Outcome:
    """Each dependency set to fail: after N failures, calls stop reaching the fake."""
    app = session.app()
    threshold = int(params.get("failures", 5))
    requests = int(params.get("requests", threshold + 4))
    tail = int(params.get("quiet_tail", 3))  # the last requests must reach the fake not at all
    parts, problems = [], []
    for dependency in params.get("dependencies", ["llm", "memory"]):
        await session.reset(dependency)
        await session.set_faults(
            dependency, {"error": {"status": 500, "mode": "all"}, **FAULT_SCOPE[dependency]}
        )
        reached: list[int] = []
        statuses = []
        user = unique("probe-breaker")
        try:
            async with session.client("breaker_opens", timeout=15.0) as c:
                for _ in range(requests):
                    before = (await session.stats(dependency))["calls_total"]
                    body = dependency_body(dependency, user)
                    answer = await c.post(
                        f"{app.base_url}{DEPENDENCY_ROUTE[dependency]}", json=body
                    )
                    statuses.append(answer.status_code)
                    reached.append((await session.stats(dependency))["calls_total"] - before)
        finally:
            await session.set_faults(dependency, None)
        total, last = sum(reached), sum(reached[-tail:])
        parts.append(
            f"{dependency}: {total} calls reached the failing fake in {requests} requests "
            f"(last {tail}: {last})"
        )
        if total == 0:
            problems.append(
                f"{dependency}: no call reached the fake: the probe proves nothing "
                f"(answers {statuses})"
            )
        elif total > threshold or last > 0:
            problems.append(
                f"{dependency}: calls kept reaching it after {threshold} failures "
                f"(per request: {reached}): no breaker opened"
            )
    return Outcome(not problems, "; ".join(parts), problems)


async def hang_ends_at_timeout(session: Session, params: dict[str, Any]) -> Outcome:
    """Each dependency set to hang: every held call is cut within its timeout + margin."""
    app = session.app()
    probe = session.context.spec.probe
    assert probe is not None
    try:
        values = settings_values(session.context)
    except EvidenceError as exc:
        values = {}
        settings_error = str(exc)
    else:
        settings_error = ""
    deadline = values.get("app_deadline_s")
    wait_s = (deadline * probe.time_scale + 2.0) if deadline else 5.0
    parts, problems = [], []
    fields = params.get("dependencies", {"llm": "llm_timeout_s", "memory": "memory_timeout_s"})

    async def one(dependency: str, setting: str) -> None:
        timeout = values.get(setting)
        bound = timeout * probe.time_scale + MARGIN_S if timeout else None
        await session.reset(dependency)
        await session.set_faults(dependency, {"hang": True, **FAULT_SCOPE[dependency]})
        user = unique("probe-hang")
        body = dependency_body(dependency, user)
        started = time.monotonic()
        status: int | str
        try:
            async with session.client("hang_ends_at_timeout", timeout=wait_s) as c:
                answer = await c.post(f"{app.base_url}{DEPENDENCY_ROUTE[dependency]}", json=body)
                status = answer.status_code
                fallback = answer.status_code == 200 and FALLBACK_USED[dependency](
                    answer_json(answer)
                )
        except httpx.TimeoutException:
            status, fallback = f"no answer in {wait_s:g}s", False
        took = time.monotonic() - started
        hangs = (await session.stats(dependency)).get("hangs", {})
        await session.set_faults(dependency, None)  # releases whatever still hangs
        cut_max = hangs.get("cut_after_s_max")
        parts.append(
            f"{dependency}: answered {status} in {took:.2f}s, {hangs.get('held', 0)} held, "
            f"cut after <= {cut_max}s (timeout {_seconds(bound)})"
        )
        if bound is None:
            problems.append(
                f"{dependency}: no {setting} configured ({settings_error or 'none set'})"
            )
        if not hangs.get("held"):
            problems.append(f"{dependency}: no call reached the hanging fake (answer {status})")
        elif hangs.get("released") or not hangs.get("cut") or (bound and cut_max > bound):
            problems.append(f"{dependency}: a hung call was not cut at its timeout ({hangs})")
        if not fallback:
            problems.append(
                f"{dependency}: the request did not answer with its fallback ({status})"
            )

    # both at once: each on its own fake and route (FAULT_SCOPE)
    await asyncio.gather(*(one(dependency, setting) for dependency, setting in fields.items()))
    unbounded = [
        f"{c['kind']} {c['base_url'] or '(no base URL)'}: read timeout none"
        for c in app.facts.get("http_clients", [])
        if c.get("read") is None
    ]
    problems += [f"wired client without a timeout: {u}" for u in unbounded]
    parts.append(
        f"{len(app.facts.get('http_clients', []))} HTTP client(s) wired, "
        f"{len(unbounded)} without a read timeout"
    )
    return Outcome(not problems, "; ".join(parts), problems)


def _seconds(bound: float | None) -> str:
    return "none" if bound is None else f"{bound - MARGIN_S:g}s"


async def tls_refused(session: Session, params: dict[str, Any]) -> Outcome:
    """The LLM over HTTPS signed by an untrusted CA: refused (fallback, no call counted);
    with the CA bundle setting naming that CA: accepted (the fake counts the call)."""
    probe = session.context.spec.probe
    assert probe is not None
    problems, parts = [], []
    await session.reset("llm_tls")
    untrusted = session.app("untrusted")
    async with session.client("tls_refused", timeout=15.0) as c:
        answer = await c.post(
            f"{untrusted.base_url}/v1/activities/suggest", json=suggest(unique("u"))
        )
    calls = (await session.stats("llm_tls"))["calls_total"]
    parts.append(f"untrusted CA: {calls} call(s) reached the fake, answer {answer.status_code}")
    if calls:
        problems.append(f"the LLM's certificate from an untrusted CA was accepted ({calls} calls)")
    if answer.status_code >= 500:
        problems.append(f"a refused certificate gave {answer.status_code}, not the fallback")
    if probe.ca_bundle_env is None:
        problems.append("no probe.ca_bundle_env: cannot show the refusal is about the CA")
    else:
        trusted = session.app("trusted")
        await session.reset("llm_tls")
        async with session.client("tls_refused", timeout=15.0) as c:
            answer = await c.post(
                f"{trusted.base_url}/v1/activities/suggest", json=suggest(unique("u"))
            )
        calls = (await session.stats("llm_tls"))["calls_total"]
        parts.append(
            f"{probe.ca_bundle_env} naming the CA: {calls} call(s), answer {answer.status_code}"
        )
        if not calls:
            problems.append(
                f"with {probe.ca_bundle_env} naming the CA no call reached the fake: "
                "the refusal proves nothing"
            )
    return Outcome(not problems, "; ".join(parts), problems)


async def spans_around_calls(session: Session, params: dict[str, Any]) -> Outcome:
    """Each call that reached a fake ran inside a span of that dependency (name prefix) with
    a duration: as many such spans as calls, and at least one call each."""
    app = session.app()
    prefixes: dict[str, str] = dict(params.get("spans", {"llm": "llm.", "memory": "memory."}))
    for fake in prefixes:
        await session.reset(fake)
    before = len(await app.spans())
    user = unique("probe-traced")
    async with session.client("spans_around_calls", timeout=15.0) as c:
        await c.post(f"{app.base_url}/v1/conversations/end", json=conversation(unique("c"), user))
        await c.post(f"{app.base_url}/v1/activities/suggest", json=suggest(user))
    await asyncio.sleep(0.05)
    spans = (await app.spans())[before:]
    parts, problems = [], []
    for fake, prefix in prefixes.items():
        calls = (await session.stats(fake))["calls_total"]
        traced = [s for s in spans if s["name"].startswith(prefix)]
        parts.append(f"{fake}: {calls} call(s), {len(traced)} '{prefix}*' span(s)")
        if not calls:
            problems.append(f"{fake}: no call reached the fake: the probe proves nothing")
        elif len(traced) < calls:
            problems.append(
                f"{fake}: {calls - len(traced)} call(s) ran outside any '{prefix}*' span"
            )
    names = sorted({s["name"] for s in spans})
    return Outcome(not problems, "; ".join(parts), [*problems, f"spans seen: {names}"])
