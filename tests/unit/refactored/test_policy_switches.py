"""Each resilience policy matters: the same scenario passes with it and fails without it.

Every test is parametrized over ``RESILIENCE_DISABLE`` (empty vs the policy):
with the policy the service protects itself; without it the legacy failure
mode comes back. So each test fails if its policy is switched off by mistake.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.unit.refactored.app_harness import conversation, running_app
from tests.unit.refactored.fake_llm import FakeDependencies

pytestmark = pytest.mark.unit
END = "/v1/conversations/end"


def disabled(policy: str) -> Any:
    return pytest.mark.parametrize("disable", ["", policy], ids=["enabled", "disabled"])


class HangingLlm(FakeDependencies):
    """The LLM never answers (the 3am incident); the Memory API is fine."""

    async def __call__(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
        if "memories" not in request.url.path:
            await asyncio.Event().wait()
        return super().__call__(request)


@disabled("timeouts")
async def test_timeouts_turn_a_hanging_llm_into_fallbacks(disable: str) -> None:
    async with running_app(
        HangingLlm(), resilience_disable=disable, time_scale=0.002, request_deadline_s=1000
    ) as client:  # LLM timeout 30 ms
        request = asyncio.create_task(client.post(END, json=conversation()))
        done, _ = await asyncio.wait({request}, timeout=2.0)  # ~60x the LLM timeout
        if disable:
            assert not done, "without timeouts the request waits for the LLM forever"
            request.cancel()
            return
        assert done
        response = request.result()
        assert response.status_code == 200
        assert response.json()["degraded"] == ["emotion", "questions", "topics"]


@disabled("timeouts")
async def test_request_deadline_answers_504_itself(disable: str) -> None:
    class SlowDb(FakeDependencies):
        async def __call__(self, request: httpx.Request) -> httpx.Response:  # type: ignore[override]
            await asyncio.Event().wait()
            raise AssertionError

    # LLM timeout (15) > deadline (5) here so the deadline is what fires.
    async with running_app(
        SlowDb(),
        resilience_disable=disable,
        time_scale=0.002,
        llm_timeout_s=1000,
        memory_timeout_s=1000,
        request_deadline_s=5,
    ) as client:
        request = asyncio.create_task(client.post(END, json=conversation()))
        done, _ = await asyncio.wait({request}, timeout=2.0)
        if disable:
            assert not done
            request.cancel()
            return
        response = request.result()
        assert response.status_code == 504
        assert response.json()["error"] == "deadline_exceeded"


@disabled("retry")
async def test_retry_rides_out_a_transient_503(disable: str) -> None:
    class FailOnce(FakeDependencies):
        """Every task's first call answers 503, later ones succeed."""

        def __call__(self, request: httpx.Request) -> httpx.Response:
            before = set(self.calls)
            response = super().__call__(request)
            task = self.calls[-1]
            if task != "memory" and task not in before:
                return httpx.Response(503)
            return response

    deps = FailOnce()
    async with running_app(deps, resilience_disable=disable) as client:
        response = await client.post(END, json=conversation())
    degraded = response.json()["degraded"]
    if disable:
        assert degraded != []
    else:
        assert degraded == []


@disabled("breaker")
async def test_breaker_stops_calling_a_failing_llm(disable: str) -> None:
    deps = FakeDependencies(fail={"*": 500})
    async with running_app(deps, resilience_disable=disable) as client:
        for i in range(3):  # 3 requests x 3 tasks x 3 attempts = 27 calls without a breaker
            assert (await client.post(END, json=conversation(f"c{i}"))).status_code == 200
        before = len([c for c in deps.calls if c != "memory"])
        await client.post(END, json=conversation("last"))
        after = len([c for c in deps.calls if c != "memory"])
        ready = (await client.get("/health/ready")).json()
    if disable:
        assert after - before == 9
        assert ready["breakers"] == {}
    else:
        assert after == before, "an open breaker fails fast without calling the LLM"
        assert ready["breakers"]["llm"] == "open"


@disabled("fallbacks")
async def test_fallbacks_keep_answering_when_the_llm_fails(disable: str) -> None:
    deps = FakeDependencies(fail={"emotion": 400})
    async with running_app(deps, resilience_disable=disable) as client:
        response = await client.post(END, json=conversation())
    if disable:
        assert response.status_code == 503
        assert response.json()["error"] == "llm_unavailable"
    else:
        assert response.status_code == 200
        assert response.json()["degraded"] == ["emotion"]
        assert response.json()["emotion"] == "neutral"


@disabled("rate_limit")
async def test_rate_limit_answers_429_with_retry_after(disable: str) -> None:
    async with running_app(
        FakeDependencies(), resilience_disable=disable, rate_limit_health_check="3/minute"
    ) as client:
        statuses = [(await client.get("/health")).status_code for _ in range(4)]
        last = await client.get("/health")
    if disable:
        assert statuses == [200, 200, 200, 200]
    else:
        assert statuses == [200, 200, 200, 429]
        assert last.json()["error"] == "rate_limited"
        assert int(last.headers["Retry-After"]) >= 1


async def test_chunked_body_over_one_mebibyte_is_413_not_500() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(17):
            yield b"x" * 65536  # no Content-Length: only the stream check can catch it

    async with running_app(FakeDependencies()) as client:
        response = await client.post(
            END, content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body exceeds 1048576 bytes"}
