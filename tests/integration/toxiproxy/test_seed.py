"""Toxicity draws follow --seed: the same seed replays the same connections' fate."""

from __future__ import annotations

import selectors
import socket
import time

import httpx
import pytest

from testbed.processes import ProcessGroup
from testbed.toxiproxy import start_toxiproxy

from .conftest import Upstreams, connect, recv_exactly

pytestmark = pytest.mark.integration

CONNECTIONS = 12
LATENCY_MS = 1000


def arrival_times(sockets: list[socket.socket], started: float) -> dict[int, float]:
    """Seconds after ``started`` at which each socket's echo arrived (watched together)."""
    arrived: dict[int, float] = {}
    with selectors.DefaultSelector() as selector:
        for index, sock in enumerate(sockets):
            selector.register(sock, selectors.EVENT_READ, index)
        while len(arrived) < len(sockets):
            events = selector.select(timeout=10)
            assert events, "no echo within 10 s"
            for key, _ in events:
                assert recv_exactly(key.fileobj, 1) == b"x"  # type: ignore[arg-type]
                arrived[key.data] = time.monotonic() - started
                selector.unregister(key.fileobj)
    return arrived


def affected_pattern(url: str, upstream: str) -> list[bool]:
    """Which of CONNECTIONS sequential connections a 50% latency toxic hit."""
    with httpx.Client(base_url=url, timeout=10) as api:
        proxy = api.post("/proxies", json={"name": "seeded", "upstream": upstream}).json()
        port = int(proxy["listen"].rsplit(":", 1)[1])
        toxic = {"type": "latency", "toxicity": 0.5, "attributes": {"latency": LATENCY_MS}}
        assert api.post("/proxies/seeded/toxics", json=toxic).status_code == 200
        sockets = [connect(port) for _ in range(CONNECTIONS)]  # accepted in this order
        try:
            time.sleep(0.2)  # let the server accept them all before any data flows
            started = time.monotonic()
            for sock in sockets:
                sock.sendall(b"x")
            arrived = arrival_times(sockets, started)
            return [arrived[i] >= LATENCY_MS / 2000 for i in range(CONNECTIONS)]
        finally:
            for sock in sockets:
                sock.close()
            api.delete("/proxies/seeded")


def test_same_seed_same_choices_other_seed_other_choices(
    processes: ProcessGroup, upstreams: Upstreams
) -> None:
    first = affected_pattern(start_toxiproxy(processes, seed=7, name="tp-a").url, upstreams.echo)
    replay = affected_pattern(start_toxiproxy(processes, seed=7, name="tp-b").url, upstreams.echo)
    other = affected_pattern(start_toxiproxy(processes, seed=8, name="tp-c").url, upstreams.echo)
    assert first == replay
    assert 0 < sum(first) < CONNECTIONS  # a real mix, so the comparison means something
    assert other != first
