"""The stack with real processes: Caddy -> gunicorn -> Toxiproxy -> fakes and PostgreSQL.

One refactored stack is booted for the module (a boot costs ~20 s on the shared CI box);
every fault is reverted by the test that set it, and the test that restarts the service
runs last. Legacy boots in the CLI test (tests/integration/stack/test_cli.py).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from testbed.processes import ProcessGroup
from testbed.stack import restart_service, start_stack
from testbed.stack_config import StackConfig
from testbed.stack_info import StackError, StackInfo
from testbed.timeouts import MIN_GAP_S, ladder

pytestmark = pytest.mark.integration

TIME_SCALE = 0.1
LLM_LATENCY_MS = 800  # below the LLM timeout (15 s x 0.1): the answer still comes from the LLM
TARGET = "refactored"
FRIENDSHIP_LIMIT = 5


def _ports(info: StackInfo) -> set[int]:
    """Every port the stack listens on: LB, service, Toxiproxy API and proxies, fakes."""
    ports: set[int] = set()
    for target in info.targets.values():
        urls = [target.lb_url, target.service_url, target.toxiproxy_url]
        urls += [fake.url for fake in target.fakes.values()]
        urls += [v for k, v in target.env.items() if k.endswith("_URL") and "://" in v]
        for url in urls:
            port = httpx.URL(url).port
            if port is not None:
                ports.add(port)
    return ports


def _listening_ports() -> set[int]:
    return {
        c.laddr.port for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
    }


@pytest.fixture(scope="module")
def stack(
    pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StackInfo, ProcessGroup]]:
    log_dir = tmp_path_factory.mktemp("stack-logs")
    with ProcessGroup(log_dir) as group:
        config = StackConfig(
            targets=(TARGET,),
            time_scale=TIME_SCALE,
            workers=1,
            database_url=pg_admin_url,
            amqp_url="",
            toxiproxy_url="",
            env_overrides={
                TARGET: {
                    "GUNICORN_CMD_ARGS": "--access-logfile -",
                    # GET /v1/friendships/... (no other test here calls it): 5 a minute
                    "RATE_LIMIT_DEFAULT": f"{FRIENDSHIP_LIMIT}/minute",
                }
            },
        )
        info = start_stack(group, config)
        yield info, group
    still = _ports(info) & _listening_ports()
    assert not still, f"ports still listening after the stack stopped: {sorted(still)}"


def _toxiproxy(info: StackInfo) -> httpx.Client:
    return httpx.Client(base_url=info.targets[TARGET].toxiproxy_url, timeout=10.0)


def test_load_balancer_answers_health_and_readiness(stack: tuple[StackInfo, ProcessGroup]) -> None:
    target = stack[0].targets[TARGET]
    assert httpx.get(f"{target.lb_url}/health", timeout=10).status_code == 200
    ready = httpx.get(f"{target.lb_url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    # the ladder's load balancer rung: 60 s x scale, never within 1 s of the app deadline
    assert target.lb_timeout_s == pytest.approx(ladder(TIME_SCALE).lb_s)
    assert target.lb_timeout_s - target.app_timeout_s >= MIN_GAP_S
    assert target.gunicorn_timeout_s == 6
    assert set(target.proxies) == {"llm", "memory", "postgres"}
    assert target.metrics_url == f"{target.service_url}/metrics"
    assert httpx.get(target.metrics_url, timeout=10).status_code == 200


def _from(source: str, lb_url: str) -> httpx.Client:
    """A client connecting to the load balancer from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=lb_url, transport=transport, timeout=10)


def _friendships(client: httpx.Client, forged: list[str], path: str = "u{i}/a{i}") -> list[int]:
    return [
        client.get(
            f"/v1/friendships/{path.format(i=i)}", headers={"X-Forwarded-For": xff}
        ).status_code
        for i, xff in enumerate(forged)
    ]


def test_forwarded_client_address_reaches_the_service(
    stack: tuple[StackInfo, ProcessGroup],
) -> None:
    """The client is the address that connected to Caddy, never the X-Forwarded-For it
    sent (Caddy replaces it; the service trusts Caddy's hop only): a new forged address
    and a new URL per request buy nothing, and a forged address throttles nobody else."""
    target = stack[0].targets[TARGET]
    assert target.env["TRUSTED_PROXIES"] == "127.0.0.1"
    over = FRIENDSHIP_LIMIT + 1
    with _from("127.0.0.11", target.lb_url) as rotating:
        statuses = _friendships(rotating, [f"10.9.8.{i}" for i in range(over)])
    assert statuses == [404] * FRIENDSHIP_LIMIT + [429]
    with _from("127.0.0.12", target.lb_url) as framer:  # forges the victim's address
        assert _friendships(framer, ["127.0.0.13"] * over, "same/a")[-1] == 429
    with _from("127.0.0.13", target.lb_url) as victim:
        assert _friendships(victim, [""]) == [404]


def test_latency_toxic_on_llm_slows_llm_calls(stack: tuple[StackInfo, ProcessGroup]) -> None:
    target = stack[0].targets[TARGET]
    body = {"user_id": "u-latency", "agent_id": "a1", "limit": 2}
    llm_stats = f"{target.fakes['llm'].control_url}/stats"

    def suggest() -> float:
        started = time.monotonic()
        response = httpx.post(f"{target.lb_url}/v1/activities/suggest", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "llm", response.text
        return time.monotonic() - started

    calls_before = httpx.get(llm_stats).json()["calls_total"]
    baseline = min(suggest(), suggest())  # warm: connections and clients are set up
    assert httpx.get(llm_stats).json()["calls_total"] > calls_before  # the LLM is behind the proxy
    with _toxiproxy(stack[0]) as api:
        api.post(
            f"/proxies/{target.proxies['llm']}/toxics",
            json={
                "name": "slow_llm",
                "type": "latency",
                "stream": "downstream",
                "attributes": {"latency": LLM_LATENCY_MS},
            },
        ).raise_for_status()
        try:
            slowed = suggest()
        finally:
            api.delete(f"/proxies/{target.proxies['llm']}/toxics/slow_llm").raise_for_status()
    assert slowed >= LLM_LATENCY_MS / 1000, (baseline, slowed)
    assert slowed > baseline + 0.4, (baseline, slowed)


def test_disabling_postgres_proxy_fails_readiness(stack: tuple[StackInfo, ProcessGroup]) -> None:
    target = stack[0].targets[TARGET]
    name = target.proxies["postgres"]
    with _toxiproxy(stack[0]) as api:
        api.post(f"/proxies/{name}", json={"enabled": False}).raise_for_status()
        try:
            ready = httpx.get(f"{target.lb_url}/health/ready", timeout=30)
            assert ready.status_code == 503, ready.text
        finally:
            api.post(f"/proxies/{name}", json={"enabled": True}).raise_for_status()
    deadline = time.monotonic() + 30
    while httpx.get(f"{target.lb_url}/health/ready", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "readiness did not recover after re-enabling postgres"
        time.sleep(0.2)


def test_slow_upstream_gets_a_real_504_from_caddy(stack: tuple[StackInfo, ProcessGroup]) -> None:
    """With its timeouts switched off (restart_service) and the LLM hanging, refactored is a
    slow upstream that does not block its event loop: Caddy answers 504 at lb_timeout_s.

    (Legacy is no use here: its sync I/O blocks the loop, so gunicorn kills the worker,
    3-7 s into the request at this scale, before the LB's 6 s.)
    """
    info, group = stack
    port_before = info.targets[TARGET].service_url
    restart_service(group, info, TARGET, env_overrides={"RESILIENCE_DISABLE": "timeouts"})
    target = info.targets[TARGET]
    assert target.service_url == port_before  # same port: Caddy keeps working
    assert target.env["RESILIENCE_DISABLE"] == "timeouts"
    control = target.fakes["llm"].control_url
    httpx.put(f"{control}/faults", json={"hang": True}, timeout=10).raise_for_status()
    try:
        started = time.monotonic()
        response = httpx.post(
            f"{target.lb_url}/v1/activities/suggest",
            json={"user_id": "u-504", "agent_id": "a1"},
            timeout=60,
        )
        elapsed = time.monotonic() - started
    finally:
        httpx.delete(f"{control}/faults", timeout=10).raise_for_status()
    assert response.status_code == 504, response.text
    assert response.headers.get("server") == "Caddy", response.headers
    assert target.lb_timeout_s * 0.95 <= elapsed < target.lb_timeout_s * 2, elapsed


def test_port_in_use_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with ProcessGroup(tmp_path) as group:
            config = StackConfig(targets=("legacy",), lb_ports={"legacy": port})
            with pytest.raises(StackError, match=f"port {port} .* already in use"):
                start_stack(group, config)
            assert group.processes == []


def test_unreachable_postgres_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with ProcessGroup(tmp_path) as group:
        config = StackConfig(
            targets=("legacy",),
            database_url=f"postgresql://postgres@127.0.0.1:{closed_port}/postgres",
        )
        with pytest.raises(StackError, match=r"PostgreSQL.*cannot connect"):
            start_stack(group, config)
        assert group.processes == []


@pytest.mark.slow
def test_service_that_never_becomes_healthy_is_named_and_everything_stops(
    pg_admin_url: str, tmp_path: Path
) -> None:
    with ProcessGroup(tmp_path) as group:
        config = StackConfig(
            targets=("refactored",),
            workers=1,
            database_url=pg_admin_url,
            amqp_url="",
            toxiproxy_url="",
            env_overrides={"refactored": {"SECRET_KEY": "too-short"}},
        )
        with pytest.raises(StackError, match="refactored \\(gunicorn\\) did not become healthy"):
            start_stack(group, config)
        started = [p.pid for p in group.processes]
    assert started, "the fakes and Toxiproxy should have started before the service"
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in started
    )
