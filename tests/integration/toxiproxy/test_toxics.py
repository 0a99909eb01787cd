"""Each toxic's documented behaviour, measured in bytes and seconds through a real proxy.

Timing checks prove "at least the configured delay" and "well under it without the toxic"
with wide margins, because CI machines are shared and slow.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def proxied_pair(make_proxy: MakeProxy) -> Iterator[tuple[str, socket.socket, socket.socket]]:
    """A proxy to an upstream this test holds: (proxy name, client side, upstream side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        name, port = make_proxy(f"127.0.0.1:{listener.getsockname()[1]}")
        with connect(port) as client:
            upstream, _ = listener.accept()  # the proxy dials the upstream per client
            with upstream:
                upstream.settimeout(10)
                yield name, client, upstream


def assert_held(sock: socket.socket) -> None:
    """Neither data nor a close arrives on ``sock`` for half a second."""
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(10)
    sock.settimeout(10)


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_timeout_zero_holds_then_its_removal_closes_the_connection(
    api: httpx.Client, make_proxy: MakeProxy, stream: str
) -> None:
    # Toxiproxy's TimeoutToxic.Cleanup closes the stub when the toxic is removed, so the
    # dropped bytes never reappear as a stream with a hole in it
    with proxied_pair(make_proxy) as (name, client, upstream):
        client.sendall(b"ok")  # nothing on the connection yet: data flows
        assert recv_exactly(upstream, 2) == b"ok"
        add_toxic(api, name, type="timeout", stream=stream, attributes={"timeout": 0})
        source, destination = (upstream, client) if stream == "downstream" else (client, upstream)
        source.sendall(b"dropped")
        assert_held(destination)  # timeout 0: dropped, and never closed while the toxic exists
        started = time.monotonic()
        assert api.delete(f"/proxies/{name}/toxics/timeout_{stream}").status_code == 204
        client_data, _ = recv_until_closed(client)
        upstream_data, _ = recv_until_closed(upstream)
        closed_after = time.monotonic() - started
    assert (client_data, upstream_data) == (b"", b"")  # the dropped bytes are gone, both ends
    assert closed_after < 5  # closed by the removal, not by some later timeout


def test_removing_a_timeout_closes_connections_it_did_not_act_on(
    api: httpx.Client, make_proxy: MakeProxy
) -> None:
    # Cleanup runs on every link of the toxic's stream, whatever the toxicity draw decided
    with proxied_pair(make_proxy) as (name, client, upstream):
        add_toxic(api, name, type="timeout", toxicity=0.0, attributes={"timeout": 0})
        upstream.sendall(b"passes")
        assert recv_exactly(client, 6) == b"passes"  # toxicity 0: the toxic does not act
        assert api.delete(f"/proxies/{name}/toxics/timeout_downstream").status_code == 204
        assert recv_until_closed(client) == (b"", 0)
        assert recv_until_closed(upstream) == (b"", 0)


def test_updating_a_timeout_does_not_close_the_connection(
    api: httpx.Client, make_proxy: MakeProxy
) -> None:
    with proxied_pair(make_proxy) as (name, client, upstream):
        add_toxic(api, name, type="timeout", attributes={"timeout": 0})
        updated = api.post(f"/proxies/{name}/toxics/timeout_downstream", json={"toxicity": 0.0})
        assert updated.status_code == 200, updated.text
        upstream.sendall(b"flows")  # updated, not removed: no Cleanup, the toxic now idle
        assert recv_exactly(client, 5) == b"flows"


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


def test_bandwidth_rate_zero_holds_the_data_until_the_toxic_goes(
    api: httpx.Client, make_proxy: MakeProxy, upstreams: Upstreams
) -> None:
    # Toxiproxy's bandwidth split loop never forwards a chunk at rate 0 (the attribute's
    # default); removing the toxic interrupts it and the held chunk goes through
    name, port = make_proxy(upstreams.blob)
    add_toxic(api, name, type="bandwidth", attributes={"rate": 0})
    with connect(port) as sock:
        sock.sendall(b"100\n")
        assert_held(sock)
        started = time.monotonic()
        assert api.delete(f"/proxies/{name}/toxics/bandwidth_downstream").status_code == 204
        data, _ = recv_until_closed(sock)
        released_after = time.monotonic() - started
    assert data == b"x" * 100
    assert released_after < 5


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
