"""Characterization probes, the same as legacy's, on the refactored service under gunicorn.

Real processes: gunicorn + uvicorn worker, the project's fakes (LLM, Memory API,
webhook) and PostgreSQL. The figures are in refactored/README.md.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx
import pytest

from testbed.fakes import start_fake
from testbed.net import LOOPBACK
from testbed.processes import ProcessGroup
from testbed.services import ServiceHandle, start_service
from tests.integration.refactored.test_endpoints import conversation

pytestmark = pytest.mark.integration


def start_refactored(
    processes: ProcessGroup, database_url: str, **env: str
) -> tuple[ServiceHandle, dict[str, Any]]:
    fakes = {kind: start_fake(processes, kind) for kind in ("llm", "memory", "webhook")}
    service_env = {
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": fakes["llm"].base_url,
        "MEMORY_API_URL": fakes["memory"].base_url,
        "ALERT_WEBHOOK_URL": f"{fakes['webhook'].base_url}/webhook",
        "NIGHTLY_SCHEDULER_ENABLED": "false",
        "ADMIN_TOKEN": "probe-token",
        "AMQP_URL": "",
        **env,
    }
    service = start_service(processes, "refactored", service_env, workers=1)
    return service, fakes


def health_latencies(base_url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    return latencies


def test_health_stays_fast_while_the_llm_is_slow(
    processes: ProcessGroup, database_url: str
) -> None:
    delay_s = 3.0
    service, fakes = start_refactored(processes, database_url, TIME_SCALE="1.0")
    fakes["llm"].control.set_faults(latency_ms=delay_s * 1000)
    with (
        concurrent.futures.ThreadPoolExecutor(4) as pool,
        httpx.Client(base_url=service.base_url, timeout=60) as client,
    ):
        slow = [
            pool.submit(
                client.post, "/v1/conversations/end", json=conversation(f"c{i}", user=f"u{i}")
            )
            for i in range(3)
        ]
        time.sleep(0.3)  # the conversations are now waiting on the LLM
        latencies = health_latencies(service.base_url, delay_s * 0.6)
        responses = [f.result() for f in slow]
    assert all(r.status_code == 200 and r.json()["degraded"] == [] for r in responses)
    worst = max(latencies)
    print(
        f"\nhealth under LLM delay {delay_s}s: max {worst * 1000:.0f} ms over "
        f"{len(latencies)} probes"
    )
    assert worst < 0.2 * delay_s  # legacy: >= 0.5 x D (the loop is blocked)


def test_llm_calls_per_request_stay_bounded_in_a_429_storm(
    processes: ProcessGroup, database_url: str
) -> None:
    service, fakes = start_refactored(processes, database_url, TIME_SCALE="0.1")
    fakes["llm"].control.set_faults(error={"status": 429, "mode": "all", "retry_after_s": 0.01})
    requests = 6
    with httpx.Client(base_url=service.base_url, timeout=60) as client:
        responses = [
            client.post("/v1/conversations/end", json=conversation(f"c{i}"))
            for i in range(requests)
        ]
        ready = client.get("/health/ready").json()
        metrics = client.get("/metrics").text
    calls = fakes["llm"].control.stats()["calls_total"]
    per_request = calls / requests
    print(f"\n429 storm: {calls} LLM calls for {requests} requests ({per_request:.1f}/request)")
    assert all(r.status_code == 200 for r in responses)
    assert all(r.json()["degraded"] == ["emotion", "questions", "topics"] for r in responses)
    assert per_request <= 3 * 3  # legacy: 10 attempts per task, Retry-After ignored
    assert calls <= 9 + 2 * 3  # the breaker opened during the first requests and cut the rest
    assert ready["breakers"]["llm"] == "open"
    assert (
        'circuit_breaker_transitions_total{dependency="llm",from_state="closed",'
        'to_state="open"}' in metrics
    )
    deadline = time.monotonic() + 10
    titles: list[str] = []
    while time.monotonic() < deadline and not any("[P0]" in t for t in titles):
        titles = [c["title"] for c in fakes["webhook"].control.cards()]
        time.sleep(0.1)
    assert any(t.startswith("[P0] Circuit breaker open: llm") for t in titles)


def test_rate_limit_keys_on_the_forwarded_client_address(
    processes: ProcessGroup, database_url: str
) -> None:
    """Behind the LB (TRUSTED_PROXIES: its X-Forwarded-For is believed from 127.0.0.1 only)
    each client has its own bucket; uvicorn leaves the peer alone (--forwarded-allow-ips "")."""
    service, _ = start_refactored(
        processes, database_url, RATE_LIMIT_HEALTH_CHECK="3/minute", TRUSTED_PROXIES=LOOPBACK
    )
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        first = [
            client.get("/health", headers={"X-Forwarded-For": "10.0.0.1"}).status_code
            for _ in range(4)
        ]
        other = client.get("/health", headers={"X-Forwarded-For": "10.0.0.2"})
        limited = client.get("/health", headers={"X-Forwarded-For": "10.0.0.1"})
        metrics = client.get("/metrics").text
    assert first == [200, 200, 200, 429]
    assert other.status_code == 200
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert 'rate_limited_total{route="/health"}' in metrics


def test_a_forged_x_forwarded_for_is_ignored_from_an_untrusted_peer(
    processes: ProcessGroup, database_url: str
) -> None:
    """Without TRUSTED_PROXIES (the default) the client is the TCP peer, whatever it sends."""
    service, _ = start_refactored(processes, database_url, RATE_LIMIT_DEFAULT="3/minute")
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        statuses = [
            client.get(
                "/v1/friendships/u/a", headers={"X-Forwarded-For": f"10.0.0.{i}"}
            ).status_code
            for i in range(4)
        ]
    assert statuses == [404, 404, 404, 429]
