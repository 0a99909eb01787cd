"""A hanging LLM task must not eat the time the request needs to store its fallback.

With production numbers (deadline 55 s, LLM call 15-20 s, 3 attempts) the retries of one
hanging analysis task would run up to the deadline; the dependency reserve stops them
early, so the request still stores the degraded result and answers 200 in time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from refactored.core.resilience.deadline import remaining
from tests.unit.refactored.app_harness import conversation, running_app
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import InMemoryStore, InMemoryUnitOfWork

pytestmark = pytest.mark.unit

SCALE = 0.005  # deadline 55 s -> 0.275 s
STORE_RESERVE_S = 5.0


class HangingEmotion(FakeDependencies):
    """Only the emotion task hangs; questions, topics and the Memory API answer."""

    async def __call__(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        if b"TASK: emotion" in request.content:
            await asyncio.Event().wait()
        return super().__call__(request)


class DeadlineRecordingStore(InMemoryStore):
    """Records how much of the request deadline was left when the write began."""

    def __init__(self) -> None:
        super().__init__()
        self.left_at_write: list[float | None] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryUnitOfWork]:
        self.left_at_write.append(remaining())
        async with super().transaction() as uow:
            yield uow


async def test_a_hanging_task_leaves_time_to_store_the_fallback() -> None:
    store = DeadlineRecordingStore()
    async with running_app(
        HangingEmotion(),
        store=store,
        time_scale=SCALE,
        request_deadline_s=55,
        llm_timeout_s=20,  # 3 attempts x 20 s > the 55 s deadline
        deadline_reserve_s=STORE_RESERVE_S,
        dependency_deadline_reserve_s=10,
    ) as client:
        response = await client.post("/v1/conversations/end", json=conversation())
    assert response.status_code == 200, response.text
    assert response.json()["degraded"] == ["emotion"]
    [left] = store.left_at_write
    assert left is not None and left >= STORE_RESERVE_S * SCALE, (
        f"the write started with {left}s of the deadline left: the LLM retries ate it"
    )
