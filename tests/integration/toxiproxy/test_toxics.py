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


def download(port: int, size: int) -> tuple[bytes, int, float]:
    """Ask the blob upstream for ``size`` bytes; returns (data, reads, seconds to EOF)."""
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(f"{size}\n".encode())
        data, reads = recv_until_closed(sock)
        return data, reads, time.monotonic() - started


def test_bandwidth_bounds_throughput_on_the_chosen_stream_only(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.blob)
    size = 100_000
    add_toxic(api, name, type="bandwidth", stream="upstream", attributes={"rate": 100})
    data, _, elapsed = download(port, size)
    assert len(data) == size
    assert elapsed < 0.5  # the request is tiny; the response stream is not limited
    api.delete(f"/proxies/{name}/toxics/bandwidth_upstream")
    add_toxic(api, name, type="bandwidth", attributes={"rate": 100})  # 100 KB/s downstream
    data, _, elapsed = download(port, size)
    assert len(data) == size
    assert elapsed >= 0.9  # 100 000 bytes at 100 000 bytes/s
    assert elapsed < 10


def test_slicer_splits_data_into_many_small_delayed_reads(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.blob)
    data, reads, _ = download(port, 200)
    assert (len(data), reads) == (200, 1)
    attributes = {"average_size": 10, "size_variation": 0, "delay": 20_000}  # 20 ms
    add_toxic(api, name, type="slicer", attributes=attributes)
    data, reads, elapsed = download(port, 200)
    assert len(data) == 200
    assert reads >= 5  # 20 slices 20 ms apart; a busy reader may still merge a few
    assert elapsed >= 19 * 0.02


def test_limit_data_closes_after_exactly_n_bytes(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.blob)
    add_toxic(api, name, type="limit_data", attributes={"bytes": 1000})
    data, _, _ = download(port, 50_000)
    assert len(data) == 1000


def test_slow_close_delays_the_close_not_the_data(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.blob)
    add_toxic(api, name, type="slow_close", attributes={"delay": 600})
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"3\n")
        assert recv_exactly(sock, 3) == b"xxx"
        data_at = time.monotonic() - started
        assert sock.recv(10) == b""
        closed_at = time.monotonic() - started
    assert data_at < 0.6
    assert closed_at >= 0.6


def test_toxicity_zero_never_applies(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="latency", toxicity=0.0, attributes={"latency": 2000})
    assert max(round_trip(port) for _ in range(5)) < 1.0


def test_timeout_added_to_an_open_connection_stops_it_and_closes(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    with connect(port) as sock:
        sock.sendall(b"1")
        assert recv_exactly(sock, 1) == b"1"
        add_toxic(api, name, type="timeout", stream="upstream", attributes={"timeout": 300})
        started = time.monotonic()
        sock.sendall(b"2")
        data, _ = recv_until_closed(sock)
        assert data == b""
        assert time.monotonic() - started >= 0.25  # timer started when the toxic was added


def test_removing_latency_releases_a_waiting_chunk_at_once(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    name, port = make_proxy(upstreams.echo)
    add_toxic(api, name, type="latency", attributes={"latency": 20_000})
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"held")
        time.sleep(0.2)  # the echo is now waiting in the latency toxic
        api.delete(f"/proxies/{name}/toxics/latency_downstream")
        assert recv_exactly(sock, 4) == b"held"
        assert time.monotonic() - started < 10  # not the 20 s the toxic asked for
