"""Synthetic samples, contexts and runs for the chaos unit tests (no I/O)."""

from __future__ import annotations

from typing import Any

import httpx

from chaos.load_plan import END, HEALTH, Sample
from chaos.scenarios.context import ScenarioContext
from chaos.scenarios.measurements import Measurements
from testbed.target import TargetInfo, configured_app_deadline_s


def endpoints(target: str = "refactored") -> TargetInfo:
    """A target as the stack records it at TIME_SCALE 0.1 (nothing listens there)."""
    return TargetInfo(
        lb_url="http://lb",
        service_url="http://svc",
        metrics_url=None,
        database_url="postgresql://postgres@127.0.0.1:1/none",
        admin_token="t",
        toxiproxy_url="http://toxiproxy",
        toxiproxy_kind="embedded",
        proxies={p: p for p in ("llm", "memory", "postgres", "rabbitmq")},
        fakes={},
        lb_timeout_s=6.5,  # testbed.stack.timeouts(0.1): max(6 s, 5.5 s + 1 s)
        app_timeout_s=5.5,
        gunicorn_timeout_s=6,
        env={"TIME_SCALE": "0.1"},
        name=target,
        app_deadline_s=configured_app_deadline_s(target, {"TIME_SCALE": "0.1"}),
    )


def context(target: str = "refactored", time_scale: float = 0.1) -> ScenarioContext:
    return ScenarioContext(
        target=target,
        endpoints=endpoints(target),
        http=httpx.AsyncClient(),
        time_scale=time_scale,
        prefix="r-test",
    )


def samples(
    n: int,
    *,
    start_s: float,
    end_s: float,
    status: int | None = 200,
    latency_ms: float = 20.0,
    endpoint: str = END,
    client: str = "c0",
    **fields: Any,
) -> list[Sample]:
    step = (end_s - start_s) / n
    return [
        Sample(
            t_s=start_s + i * step,
            endpoint=endpoint,
            client=client,
            status=status,
            latency_ms=latency_ms,
            **fields,
        )
        for i in range(n)
    ]


def measurements(
    load: list[Sample], health: list[Sample] | None = None, window: tuple[float, float] = (2, 12)
) -> Measurements:
    return Measurements(
        samples=load,
        health=health or samples(50, start_s=0, end_s=14, endpoint=HEALTH, latency_ms=3.0),
        windows=[{"label": "fault", "start_s": window[0], "end_s": window[1]}],
    )
