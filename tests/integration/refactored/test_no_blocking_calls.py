"""No blocking call on the event loop: every request path and the nightly job under blockbuster.

The real adapters (asyncpg, the httpx-aiohttp transport, the real fakes as
processes) run with blockbuster active; any blocking call (socket, file,
time.sleep, a lock) raises BlockingError and the request answers 500, which
the assertions catch. Legacy would fail at its first sync httpx call.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from blockbuster import BlockingError, blockbuster_ctx

from chaos.fakes.testing import start_fake
from harness.processes import ProcessGroup
from refactored.main import create_app
from tests.integration.refactored.conftest import make_settings
from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration


async def test_request_paths_and_nightly_job_never_block(
    processes: ProcessGroup, database_url: str
) -> None:
    llm = start_fake(processes, "llm")
    memory = start_fake(processes, "memory")
    settings = make_settings(
        database_url,
        llm_base_url=llm.base_url,
        memory_api_url=memory.base_url,
        http_transport="aiohttp",
        rate_limit_enabled=True,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # startup may read certificates: not a path
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            with blockbuster_ctx(["refactored"]) as bb:
                answers: list[Any] = [
                    await client.post("/v1/conversations/end", json=conversation()),
                    await client.post("/v1/conversations/end", json=conversation()),  # replay
                    await client.post(
                        "/v1/activities/suggest", json={"user_id": "u1", "agent_id": "a1"}
                    ),
                    await client.get("/v1/friendships/u1/a1"),
                    await client.get("/health"),
                    await client.get("/health/ready"),
                    await client.post(
                        "/v1/admin/nightly",
                        headers={"Authorization": "Bearer tttttttt"},
                        json={"now": "2025-01-05T03:00:00Z"},
                    ),
                ]
                llm.control.set_faults(error={"status": 503, "mode": "all"})
                answers.append(
                    await client.post("/v1/conversations/end", json=conversation("degraded"))
                )
                assert bb is not None
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 8, [a.text for a in answers]
    assert answers[-1].json()["degraded"] == ["emotion", "questions", "topics"]


async def test_blockbuster_really_catches_a_blocking_call() -> None:
    """The detector works in this setup: a sync sleep inside the loop is caught."""
    import time

    with blockbuster_ctx(), pytest.raises(BlockingError):
        time.sleep(0.001)
