"""Each toxic's documented behaviour, measured in bytes and seconds through a real proxy.

Timing checks prove "at least the configured delay" and "well under it without the toxic"
with wide margins, because CI machines are shared and slow.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import pytest

from .conftest import Upstreams, connect, recv_exactly, recv_until_closed, round_trip

pytestmark = pytest.mark.integration

MakeProxy = Callable[[str], tuple[str, int]]


def add_toxic(api: httpx.Client, proxy: str, **body: object) -> dict[str, object]:
    response = api.post(f"/proxies/{proxy}/toxics", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_latency_delays_every_chunk_and_removal_restores(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    assert round_trip(port) < 0.4
    add_toxic(api, name, type="latency", attributes={"latency": 400, "jitter": 0})
    with connect(port) as sock:
        for _ in range(2):  # every chunk, not just the first
            started = time.monotonic()
            sock.sendall(b"abc")
            assert recv_exactly(sock, 3) == b"abc"
            assert time.monotonic() - started >= 0.4
        api.delete(f"/proxies/{name}/toxics/latency_downstream")
        started = time.monotonic()
        sock.sendall(b"abc")  # same open connection: the removal applies to it
        assert recv_exactly(sock, 3) == b"abc"
        assert time.monotonic() - started < 0.4


def test_latency_added_to_an_open_connection_applies_to_it(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    with connect(port) as sock:
        sock.sendall(b"1")
        assert recv_exactly(sock, 1) == b"1"
        add_toxic(api, name, type="latency", stream="upstream", attributes={"latency": 400})
        started = time.monotonic()
        sock.sendall(b"2")
        assert recv_exactly(sock, 1) == b"2"
        assert time.monotonic() - started >= 0.4


def test_timeout_stops_data_then_closes(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="timeout", attributes={"timeout": 500})
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"lost")
        data, _ = recv_until_closed(sock)
        elapsed = time.monotonic() - started
    assert data == b""  # nothing got through
    assert 0.5 <= elapsed < 5


def test_timeout_zero_holds_until_removed_then_data_flows(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="timeout", attributes={"timeout": 0})
    with connect(port, timeout=0.5) as sock:
        sock.sendall(b"dropped")
        with pytest.raises(TimeoutError):  # neither data nor close while the toxic exists
            sock.recv(10)
        api.delete(f"/proxies/{name}/toxics/timeout_downstream")
        sock.settimeout(5)
        sock.sendall(b"after")
        assert recv_exactly(sock, 5) == b"after"


def test_reset_peer_resets_the_connection(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="reset_peer", stream="upstream", attributes={"timeout": 300})
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        assert time.monotonic() - started >= 0.3


def test_reset_peer_zero_resets_on_first_data(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect(port) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)


def test_unreachable_upstream_closes_the_client(api: httpx.Client, make_proxy: MakeProxy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, not listening: refused
        _name, port = make_proxy(dead)
        with connect(port) as sock:
            assert sock.recv(10) == b""
