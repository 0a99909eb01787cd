"""The HTTP API of docs/conventions.md §4. Every route carries an explicit rate limit."""

from __future__ import annotations

import asyncio
import hmac
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from slowapi import Limiter

from refactored.application.ports import Message
from refactored.application.use_cases.end_conversation import EndConversationCommand
from refactored.core.settings import Policy, Settings
from refactored.infrastructure.container import Container
from refactored.infrastructure.observability.logging import conversation_id_var
from refactored.infrastructure.observability.metrics import render_metrics
from refactored.infrastructure.web.schemas import (
    EndConversationIn,
    NightlyIn,
    SuggestActivitiesIn,
    Text,
)
from refactored.infrastructure.web.validation import Loc, not_after

ADMIN_DISABLED = "admin endpoint disabled: set ADMIN_TOKEN"
ADMIN_NIGHTLY_PATH = "/v1/admin/nightly"
NIGHTLY_RUNNING = "the nightly job is already running (scheduled or triggered): nothing done"


def _container(request: Request) -> Container:
    return request.app.state.container


def _not_in_future(request: Request, fields: list[tuple[Loc, datetime | None]]) -> None:
    """422 for a datetime after now + CLOCK_SKEW_S (the schema checks the fixed bounds)."""
    container = _container(request)
    now = container.clock.now() if container.clock is not None else datetime.now(UTC)
    not_after(now, container.settings.clock_skew_s, fields)


PathText = Annotated[Text, Path()]


def build_router(settings: Settings, limiter: Limiter) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/conversations/end")
    @limiter.limit(settings.rate_limit_conversation_end)
    async def end_conversation(request: Request, body: EndConversationIn) -> JSONResponse:
        conversation_id_var.set(body.conversation_id)
        _not_in_future(
            request,
            [
                (("body", "started_at"), body.started_at),
                (("body", "ended_at"), body.ended_at),
                *((("body", "messages", i, "ts"), m.ts) for i, m in enumerate(body.messages)),
            ],
        )
        command = EndConversationCommand(
            conversation_id=body.conversation_id,
            user_id=body.user_id,
            agent_id=body.agent_id,
            started_at=body.started_at,
            ended_at=body.ended_at,
            messages=tuple(Message(m.role, m.content, m.ts) for m in body.messages),
        )
        return JSONResponse(await _container(request).end_conversation(command))

    @router.post("/v1/activities/suggest")
    @limiter.limit(settings.rate_limit_activities_suggest)
    async def suggest_activities(request: Request, body: SuggestActivitiesIn) -> JSONResponse:
        result = await _container(request).suggest_activities(
            body.user_id, body.agent_id, body.limit
        )
        return JSONResponse(result)

    @router.get("/v1/friendships/{user_id}/{agent_id}")
    @limiter.limit(settings.rate_limit_default)
    async def get_friendship(
        request: Request, user_id: PathText, agent_id: PathText
    ) -> JSONResponse:
        return JSONResponse(await _container(request).get_friendship(user_id, agent_id))

    @router.post(ADMIN_NIGHTLY_PATH)
    @limiter.limit(settings.rate_limit_default)
    async def run_nightly(request: Request, body: NightlyIn | None = None) -> JSONResponse:
        token = _container(request).settings.admin_token
        if not token:
            return JSONResponse({"detail": ADMIN_DISABLED}, status_code=503)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JSONResponse({"detail": "invalid admin token"}, status_code=401)
        _not_in_future(request, [(("body", "now"), body.now if body else None)])
        # An operator job, exempt from the user-request deadline (RequestPipeline) and
        # bounded by its own JOB_TIMEOUT_S instead: call it on the service, not through the LB.
        container = _container(request)
        s = container.settings
        job_timeout = s.scaled(s.job_timeout_s) if s.enabled(Policy.TIMEOUTS) else None
        # the scheduler's advisory lock: one run at a time across workers and triggers
        lock = container.nightly_lock() if container.nightly_lock else nullcontext(True)
        async with lock as mine:
            if not mine:
                return JSONResponse({"detail": NIGHTLY_RUNNING, "error": "conflict"}, 409)
            try:  # inside the lock: its storage boundary would call a TimeoutError an outage
                async with asyncio.timeout(job_timeout):
                    report = await container.nightly_job(body.now if body else None)
            except TimeoutError:
                return JSONResponse(
                    {
                        "detail": f"nightly job exceeded its job timeout of {job_timeout:.2f}s; "
                        "the batches committed so far are kept, run it again to finish",
                        "error": "deadline_exceeded",
                    },
                    status_code=504,
                )
        return JSONResponse(report.as_json())

    @router.get("/health")
    @limiter.limit(settings.rate_limit_health_check)
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/health/ready")
    @limiter.limit(settings.rate_limit_health_check)
    async def ready(request: Request) -> JSONResponse:
        container = _container(request)
        s = container.settings
        timeout = s.scaled(s.health_db_timeout_s) if s.enabled(Policy.TIMEOUTS) else None
        database = "ok"
        try:
            async with asyncio.timeout(timeout):
                await container.store.ping()
        except Exception:  # any failure means "not ready"; the reason is in the logs
            database = "error"
        body = {
            "status": "ready" if database == "ok" else "not_ready",
            "database": database,
            "breakers": {name: b.state for name, b in container.breakers.items()},
        }
        return JSONResponse(body, status_code=200 if database == "ok" else 503)

    @router.get("/metrics")
    @limiter.limit(settings.rate_limit_health_check)
    async def metrics(request: Request) -> Response:
        # Multiprocess mode reads one file per worker: keep that off the event loop.
        payload, content_type = await asyncio.to_thread(render_metrics)
        return Response(payload, media_type=content_type)

    return router
