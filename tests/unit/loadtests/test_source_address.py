"""Locust users' source addresses: allocation, and the binding against a real socket.

Only ``loadtests.source_address`` is imported (geventhttpclient, no Locust): importing
Locust would monkey-patch this test process.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator

import pytest

from loadtests.source_address import (
    BURST_ADDRESS,
    SourceBoundClientPool,
    SourceBoundConnectionPool,
    is_loopback_host,
    user_address,
)

pytestmark = pytest.mark.unit


def test_user_addresses_are_distinct_loopback_peers_per_process() -> None:
    addresses = [user_address(p, n) for p in range(3) for n in range(20_000)]
    assert len(set(addresses)) == len(addresses)
    for address in [*addresses, BURST_ADDRESS]:
        ip = ipaddress.ip_address(address)
        assert ip in ipaddress.ip_network("127.0.0.0/8"), address
        assert ip not in ipaddress.ip_network("127.0.0.0/16"), address  # 127.0.0.1, resolvers
        # apart from the chaos load generator's 127.10-209 and 127.253-254
        assert 210 <= int(address.split(".")[1]) <= 250, address
        assert address.rsplit(".", 1)[1] not in ("0", "255"), address
    assert BURST_ADDRESS not in addresses
    assert user_address(1, 5) == user_address(1, 5)  # deterministic


@pytest.fixture
def peer_server() -> Iterator[tuple[int, list[str]]]:
    """An HTTP/1.1 server on 127.0.0.1 (its own thread) recording each connection's peer."""
    peers: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, (host, _port) = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            peers.append(host)
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], peers
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_a_users_connections_leave_from_its_address_and_move_on_rebind(
    peer_server: tuple[int, list[str]],
) -> None:
    port, peers = peer_server
    first, second = user_address(0, 1), user_address(0, 2)
    pool = SourceBoundClientPool(first, concurrency=2, network_timeout=5, connection_timeout=5)
    try:
        url = f"http://127.0.0.1:{port}/health"
        assert pool.get_client(url).get("/health").status_code == 200
        pool.rebind(second)
        assert pool.get_client(url).get("/health").status_code == 200
    finally:
        pool.close()
    assert peers == [first, second]


def test_a_load_balancer_off_loopback_is_reached_without_binding() -> None:
    pool = SourceBoundClientPool(user_address(0, 1))
    client = pool.get_client("http://lb.example:8080/")
    assert not isinstance(client._connection_pool, SourceBoundConnectionPool)
    assert isinstance(
        pool.get_client("http://127.0.0.1:8080/")._connection_pool, SourceBoundConnectionPool
    )
    pool.close()
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.1")
    assert not is_loopback_host("caddy") and not is_loopback_host("10.0.0.1")
