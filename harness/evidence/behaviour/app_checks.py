"""The probe's checks on the app's own paths: no blocking call on any of them, hostile input
refused with a 4xx before any dependency call, one result per owner of a conversation id, and
the pools the engines received fit the database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from harness.evidence.base import Outcome
from harness.evidence.behaviour.requests import conversation, suggest, unique
from harness.evidence.behaviour.session import Session
from harness.evidence.connections import usable_connections, workers


async def no_blocking(session: Session, params: dict[str, Any]) -> Outcome:
    """Both POSTs, the GET, health and the nightly job, with blockbuster on."""
    app = session.app()
    probe = session.context.spec.probe
    assert probe is not None
    user = unique("probe-user")
    os.kill(app.pid, signal.SIGUSR1)
    await asyncio.sleep(0.1)
    answers: list[tuple[str, int | str]] = []
    try:
        async with session.client("no_blocking") as c:
            base = app.base_url
            calls: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
                ("GET /health", lambda: c.get(f"{base}/health")),
                (
                    "POST /v1/conversations/end",
                    lambda: c.post(
                        f"{base}/v1/conversations/end", json=conversation(unique("c"), user)
                    ),
                ),
                (
                    "POST /v1/activities/suggest",
                    lambda: c.post(f"{base}/v1/activities/suggest", json=suggest(user)),
                ),
                (
                    "GET /v1/friendships/{user_id}/{agent_id}",
                    lambda: c.get(f"{base}/v1/friendships/{user}/probe-agent"),
                ),
            ]
            if probe.admin_token:
                headers = {"Authorization": f"Bearer {probe.admin_token}"}
                calls.append(
                    (
                        "POST /v1/admin/nightly (the nightly job)",
                        lambda: c.post(f"{base}/v1/admin/nightly", headers=headers),
                    )
                )
            for label, call in calls:
                try:
                    answers.append((label, (await call()).status_code))
                except httpx.TransportError as exc:  # the app broke the connection
                    answers.append((label, f"no answer ({type(exc).__name__})"))
    finally:
        os.kill(app.pid, signal.SIGUSR2)
    blocking = app.blocking()
    problems = [
        f"{label}: {status}"
        for label, status in answers
        if not isinstance(status, int) or status >= 500
    ]
    problems += [
        f"blocking call {b['call']} at {' <- '.join(reversed(b['stack'][-3:]))}"
        for b in blocking[:5]
    ]
    if not probe.admin_token:
        problems.append("the nightly job was not run: no probe.admin_token to trigger it with")
    paths = ", ".join(f"{label} {status}" for label, status in answers)
    if problems:
        return Outcome.fail(f"{len(blocking)} blocking call(s) caught; {paths}", problems)
    return Outcome.ok(f"no blocking call under blockbuster: {paths}")


HOSTILE = {
    "NUL in conversation_id": ("POST", "/v1/conversations/end", "nul-id"),
    "lone surrogate in a message": ("POST", "/v1/conversations/end", "surrogate"),
    "NUL in a message": ("POST", "/v1/conversations/end", "nul-text"),
    "NUL in a path id": ("GET", "/v1/friendships/probe%00user/probe-agent", None),
    "NUL in user_id (suggest)": ("POST", "/v1/activities/suggest", "nul-user"),
}


async def hostile_input_4xx(session: Session, params: dict[str, Any]) -> Outcome:
    """NUL and lone surrogates are 4xx, refused before any dependency call (no LLM or Memory
    API call is made for a request that cannot be stored)."""
    app = session.app()
    answers: dict[str, int | str] = {}
    for fake in ("llm", "memory"):
        await session.reset(fake)
    async with session.client("hostile_input_4xx") as c:
        for label, (method, path, kind) in HOSTILE.items():
            content: bytes | None = None
            if kind == "nul-id":
                content = json.dumps(conversation("probe\u0000id", unique("u"))).encode()
            elif kind == "surrogate":
                body = conversation(unique("c"), unique("u"))
                text = json.dumps(body).replace("I do!", "I do \\ud800!")
                content = text.encode()
            elif kind == "nul-text":
                body = conversation(unique("c"), unique("u"))
                content = json.dumps(body).replace("I do!", "I do\\u0000!").encode()
            elif kind == "nul-user":
                content = json.dumps(suggest("probe\u0000user")).encode()
            headers = {"content-type": "application/json"} if content is not None else {}
            try:
                answer = await c.request(
                    method, f"{app.base_url}{path}", content=content, headers=headers
                )
                answers[label] = answer.status_code
            except httpx.TransportError as exc:  # the server broke the connection: no answer
                answers[label] = f"no answer ({type(exc).__name__})"
    problems = [
        f"expected 4xx: {label}: {status}"
        for label, status in answers.items()
        if not (isinstance(status, int) and 400 <= status < 500)
    ]
    # refused at the door: validation, before any dependency was called for it
    calls = {fake: (await session.stats(fake))["calls_total"] for fake in ("llm", "memory")}
    problems += [
        f"hostile input reached the {fake} fake ({n} calls) before it was refused"
        for fake, n in calls.items()
        if n
    ]
    observed = ", ".join(f"{label} {status}" for label, status in answers.items())
    observed += f"; dependency calls made for them: {sum(calls.values())}"
    return Outcome(not problems, observed, problems)


async def idempotent_per_owner(session: Session, params: dict[str, Any]) -> Outcome:
    """Two owners end a conversation of the same id: each gets (and keeps) its own result."""
    app = session.app()
    cid, agent = unique("shared"), "probe-agent"
    owners = [unique("owner-a"), unique("owner-b")]
    problems, parts = [], []
    async with session.client("idempotent_per_owner", timeout=15.0) as c:
        for owner in owners:
            answer = await c.post(
                f"{app.base_url}/v1/conversations/end", json=conversation(cid, owner, agent)
            )
            body = (
                answer.json()
                if answer.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            echoed = body.get("user_id") if isinstance(body, dict) else None
            parts.append(f"{owner}: {answer.status_code}")
            if answer.status_code != 200 or echoed not in (None, owner):
                problems.append(f"{owner} got {answer.status_code} for user_id {echoed!r}")
        for owner in owners:
            stored = await c.get(f"{app.base_url}/v1/friendships/{owner}/{agent}")
            parts.append(f"friendship of {owner}: {stored.status_code}")
            if stored.status_code != 200:
                problems.append(
                    f"{owner}'s conversation {cid} was not processed for them "
                    f"(friendship {stored.status_code}): another owner's result was reused"
                )
    return Outcome(not problems, "; ".join(parts), problems)


async def pool_fits(session: Session, params: dict[str, Any]) -> Outcome:
    """The pools the engines received (x workers) fit max_connections minus the reserve."""
    app = session.app()
    engines = app.facts.get("engines", [])
    if not engines:
        return Outcome.fail(
            "no SQLAlchemy engine found in the app process",
            ["the probe reads the pools the engines received; found none to read"],
        )
    worker_count, workers_source = workers(session.context)
    limit, source = usable_connections(session.context)
    problems, caps = [], []
    for e in engines:
        size, overflow = e.get("size"), e.get("max_overflow")
        if size is None or overflow is None or overflow < 0:
            problems.append(
                f"{e['url']}: {e['pool']} size {size} max_overflow {overflow}: unbounded"
            )
        else:
            caps.append(size + overflow)
    shown = " + ".join(f"({e.get('size')}+{e.get('max_overflow')})" for e in engines)
    if problems:
        return Outcome.fail(
            f"engines {shown}: unbounded; database allows {limit} ({source})", problems
        )
    needed = sum(caps) * worker_count
    observed = (
        f"engines {shown} x {worker_count} workers = {needed} <= {limit} usable "
        f"({source}; {workers_source})"
    )
    if needed > limit:
        return Outcome.fail(observed.replace("<=", ">"), ["raise max_connections or shrink pools"])
    return Outcome.ok(observed)
