"""One rate-limit budget for every worker: gunicorn with 2 uvicorn workers and real Redis.

The 101st ``GET /v1/friendships/...`` of a minute is 429 whichever worker serves it (the
requests are spread over both, shown by each worker's own metrics file); with
``memory://`` counters each worker has its own budget (the limitation Redis removes).
When the store is unreachable the limiter fails open, counts it and pages once (P1).

Needs Redis: REDIS_URL, else 127.0.0.1:6379; skipped when none answers, failed in CI.
"""

from __future__ import annotations

import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from blockbuster import blockbuster_ctx

from refactored.main import create_app
from testbed.fakes import start_fake
from testbed.net import LOOPBACK, free_port
from testbed.processes import ProcessGroup
from testbed.rate_limit_store import LOCAL_REDIS, redis_answers
from testbed.services import ServiceHandle, start_service
from tests.conftest import IN_CI
from tests.integration.refactored.conftest import make_settings

pytestmark = pytest.mark.integration
LIMIT = 100  # RATE_LIMIT_DEFAULT, the friendship route's limit
REQUESTS = 130


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip() or LOCAL_REDIS
    if redis_answers(url):
        return url
    message = f"this test needs Redis: none answers at {url} (set REDIS_URL or start one)"
    if IN_CI:
        pytest.fail(f"{message} - CI must provide it", pytrace=False)
    pytest.skip(message)


def start(
    processes: ProcessGroup, database_url: str, workers: int, **env: str
) -> tuple[ServiceHandle, Any]:
    fakes = {kind: start_fake(processes, kind) for kind in ("llm", "memory", "webhook")}
    service_env = {
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": fakes["llm"].base_url,
        "MEMORY_API_URL": fakes["memory"].base_url,
        "ALERT_WEBHOOK_URL": f"{fakes['webhook'].base_url}/webhook",
        "NIGHTLY_SCHEDULER_ENABLED": "false",
        "AMQP_URL": "",
        "RATE_LIMIT_KEY_PREFIX": f"test-{secrets.token_hex(4)}",  # never another run's counters
        **env,
    }
    service = start_service(processes, "refactored", service_env, workers=workers)
    return service, fakes["webhook"]


def burst(base_url: str, count: int) -> list[int]:
    """``count`` friendship reads, 16 at a time, a new connection each (any worker takes it)."""

    def one(i: int) -> int:
        return httpx.get(f"{base_url}/v1/friendships/u{i}/a{i}", timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(count)))


def workers_that_served(metrics_dir: Path) -> int:
    """Each worker writes its own request-histogram file (prometheus multiprocess mode)."""
    return len(list(metrics_dir.glob("histogram_*.db")))


def test_two_workers_share_one_budget_in_redis(
    processes: ProcessGroup, database_url: str, redis_url: str
) -> None:
    service, _ = start(processes, database_url, 2, RATE_LIMIT_STORAGE_URI=redis_url)
    statuses = burst(service.base_url, REQUESTS)
    late = burst(service.base_url, 20)  # after the budget is spent: refused on both workers
    assert workers_that_served(service.metrics_dir) == 2
    assert statuses.count(404) == LIMIT, statuses
    assert statuses.count(429) == REQUESTS - LIMIT
    assert late == [429] * 20


def test_memory_counters_give_each_worker_its_own_budget(
    processes: ProcessGroup, database_url: str
) -> None:
    """The limitation a shared store removes: 2 workers, up to 2 x the limit."""
    service, _ = start(processes, database_url, 2, RATE_LIMIT_STORAGE_URI="memory://")
    statuses = burst(service.base_url, REQUESTS)
    assert workers_that_served(service.metrics_dir) == 2
    assert LIMIT < statuses.count(404) <= 2 * LIMIT


def test_an_unreachable_store_fails_open_counts_and_pages_once(
    processes: ProcessGroup, database_url: str
) -> None:
    closed = f"redis://{LOOPBACK}:{free_port()}/0"
    service, webhook = start(
        processes, database_url, 1, RATE_LIMIT_STORAGE_URI=closed, RATE_LIMIT_DEFAULT="3/minute"
    )
    statuses = [
        httpx.get(f"{service.base_url}/v1/friendships/u/a", timeout=30).status_code
        for _ in range(10)
    ]
    metrics = httpx.get(f"{service.base_url}/metrics", timeout=30).text
    assert statuses == [404] * 10  # 3 a minute, and nothing refused: fail open
    counted = [line for line in metrics.splitlines() if line.startswith("rate_limit_fail_open")]
    assert counted and float(counted[0].split()[-1]) >= 10, counted
    deadline = time.monotonic() + 10
    pages: list[str] = []
    while time.monotonic() < deadline and not pages:
        pages = [c["title"] for c in webhook.control.cards() if "[P1] Rate limit" in c["title"]]
        time.sleep(0.1)
    assert pages == ["[P1] Rate limit store unreachable: 1 requests passed unchecked"]


async def test_counting_in_redis_never_blocks_the_event_loop(
    database_url: str, redis_url: str
) -> None:
    """The store is reached with redis.asyncio (slowapi's own storage would block)."""
    settings = make_settings(
        database_url,
        rate_limit_enabled=True,
        rate_limit_default="3/minute",
        rate_limit_storage_uri=redis_url,
        rate_limit_key_prefix=f"test-{secrets.token_hex(4)}",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            with blockbuster_ctx(["refactored"]):
                statuses = [(await client.get("/v1/friendships/u/a")).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]  # the 429 also read the window (Retry-After)
