"""Characterization A2: the nightly job takes every connection of the app's pool."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import QueuePool, text

from legacy.config import load_settings
from legacy.db import make_engine
from legacy.services.nightly_job import run_nightly_job
from tests.integration.legacy.conftest import FakeDeps

pytestmark = pytest.mark.integration

FRIENDSHIPS = 20
LLM_DELAY_S = 3.0
POOL_LIMIT = 5 + 10  # SQLAlchemy's default QueuePool: pool_size 5 + max_overflow 10


def test_nightly_job_exhausts_the_pool(legacy_env: dict[str, str], fakes: FakeDeps) -> None:
    fakes.llm_delay_s = LLM_DELAY_S
    engine = make_engine(legacy_env["DATABASE_URL"])
    pool = engine.pool
    assert isinstance(pool, QueuePool), "legacy runs on SQLAlchemy's default QueuePool"
    now = datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            for i in range(FRIENDSHIPS):
                conn.execute(
                    text(
                        "INSERT INTO friendships (user_id, agent_id, score, level, "
                        "last_interaction_at) VALUES (:u, 'a1', 10, 'stranger', :t)"
                    ),
                    {"u": f"u{i}", "t": now - timedelta(hours=1)},
                )
        result: dict = {}
        job = threading.Thread(
            target=lambda: result.update(run_nightly_job(engine, load_settings(), now))
        )
        job.start()
        deadline = time.monotonic() + 30
        while pool.checkedout() < POOL_LIMIT and time.monotonic() < deadline:
            time.sleep(0.01)
        peak = pool.checkedout()
        started = time.monotonic()
        with engine.connect() as conn:  # what a request would do now
            conn.execute(text("SELECT 1"))
        waited = time.monotonic() - started
        job.join(timeout=60)
    finally:
        engine.dispose()
    print(
        f"\nnightly job: {peak} of {POOL_LIMIT} pooled connections held; a request waited "
        f"{waited:.2f}s for a connection (LLM summary delay {LLM_DELAY_S}s)"
    )
    assert peak == POOL_LIMIT, "legacy bug A2: the job holds every connection of the pool"
    assert waited >= 0.5 * LLM_DELAY_S, "a request waits for the job to release a connection"
    assert result["summaries_refreshed"] == FRIENDSHIPS
