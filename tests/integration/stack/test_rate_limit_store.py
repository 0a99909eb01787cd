"""Which store the stack's rate limiter counts in: REDIS_URL, else 127.0.0.1:6379, else
redis-server from PATH, else per-worker memory (said out loud)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

import testbed.rate_limit_store as store
from testbed.net import LOOPBACK, free_port
from testbed.processes import ProcessGroup

pytestmark = pytest.mark.integration


@pytest.fixture
def no_local_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(store, "LOCAL_REDIS", f"redis://{LOOPBACK}:{free_port()}/0")


def test_redis_url_that_does_not_answer_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://{LOOPBACK}:{free_port()}/0")
    with ProcessGroup(tmp_path) as group, pytest.raises(store.RedisUnavailableError, match="PING"):
        store.rate_limit_store(group)


@pytest.mark.usefixtures("no_local_redis")
def test_redis_server_from_path_is_started_and_stopped_with_the_stack(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH")
    with ProcessGroup(tmp_path) as group:
        found = store.rate_limit_store(group)
        assert found.kind == "spawned"
        assert store.redis_answers(found.uri)
    assert not store.redis_answers(found.uri)


@pytest.mark.usefixtures("no_local_redis")
def test_without_any_redis_the_stack_says_it_counts_per_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server
    with ProcessGroup(tmp_path) as group, caplog.at_level(logging.WARNING):
        found = store.rate_limit_store(group)
    assert (found.kind, found.uri) == ("memory", "memory://")
    assert "per-worker memory" in caplog.text


def test_each_stack_counts_under_its_own_key_prefix() -> None:
    one = store.RateLimitStore("local", store.LOCAL_REDIS)
    first, second = one.service_env("refactored"), one.service_env("refactored")
    assert first["RATE_LIMIT_STORAGE_URI"] == store.LOCAL_REDIS
    assert first["RATE_LIMIT_KEY_PREFIX"] != second["RATE_LIMIT_KEY_PREFIX"]
