"""The use cases over the wired adapters, the nightly schedule, and the container."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from refactored.application.ports import AlertSink, Clock, EventPublisher
from refactored.application.use_cases.end_conversation import EndConversation
from refactored.application.use_cases.get_friendship import GetFriendship
from refactored.application.use_cases.nightly_job import NightlyJob
from refactored.application.use_cases.suggest_activities import SuggestActivities
from refactored.core.settings import Policy
from refactored.infrastructure.container import Container
from refactored.infrastructure.scheduler import run_daily
from refactored.infrastructure.wiring.assembly import Assembly
from refactored.infrastructure.wiring.dependencies import Dependencies
from refactored.infrastructure.wiring.policies import fallback_hook
from refactored.infrastructure.wiring.storage import Stores

Lock = Callable[[], AbstractAsyncContextManager[bool]]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Adapters:
    stores: Stores
    dependencies: Dependencies
    publisher: EventPublisher | None
    alerts: AlertSink
    nightly_lock: Lock | None


def nightly_job(a: Assembly, ad: Adapters, clock: Clock) -> NightlyJob:
    """The nightly job; scheduled daily (bounded by JOB_TIMEOUT_S) when the scheduler is on."""
    s = a.settings
    job = NightlyJob(
        ad.stores.job_store,
        ad.dependencies.analyzer,
        clock,
        bulkhead=s.enabled(Policy.JOB_BULKHEAD),
        concurrency=s.job_concurrency,
        batch_size=s.job_batch_size,
        outbox=s.enabled(Policy.OUTBOX),
        publisher=ad.publisher,
    )
    if s.nightly_scheduler_enabled:
        job_timeout = s.scaled_or_none(s.job_timeout_s)

        async def bounded_nightly() -> object:
            async with asyncio.timeout(job_timeout):
                return await job()

        a.tasks.append(
            run_daily(bounded_nightly, s.nightly_hour_utc, s.time_scale, ad.nightly_lock)
        )
    return job


def container(a: Assembly, ad: Adapters) -> Container:
    s = a.settings
    clock = a.overrides.clock or SystemClock()
    store, deps = ad.stores.store, ad.dependencies
    fallbacks = s.enabled(Policy.FALLBACKS)
    on_fallback = fallback_hook(ad.alerts)
    end_conversation = EndConversation(
        store,
        deps.analyzer,
        deps.memory,
        clock,
        fallbacks=fallbacks,
        outbox=s.enabled(Policy.OUTBOX),
        publisher=ad.publisher,
        on_fallback=on_fallback,
    )
    return Container(
        settings=s,
        store=store,
        end_conversation=end_conversation,
        suggest_activities=SuggestActivities(
            store, deps.analyzer, fallbacks=fallbacks, on_fallback=on_fallback
        ),
        get_friendship=GetFriendship(store),
        nightly_job=nightly_job(a, ad, clock),
        alerts=ad.alerts,
        breakers=deps.breakers,
        clock=clock,
        nightly_lock=ad.nightly_lock,
    )
