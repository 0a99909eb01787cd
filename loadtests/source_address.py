"""Each Locust user is a real client of the load balancer: its own loopback source address.

The load balancer replaces any ``X-Forwarded-For`` a client sends with the peer address it
sees, and the refactored rate limiter keys on that address. So a simulated user cannot
*claim* to be another client; it has to *be* one. On Linux all of 127.0.0.0/8 is routed to
``lo``: a socket bound to ``127.A.B.C`` (port 0) that connects to the load balancer on
127.0.0.1 is a distinct peer. Addresses are handed out per Locust process
(:func:`user_address`), never 127.0.0.1 itself nor 127.0.0.0/16.

geventhttpclient (``FastHttpUser``) has no source-address option: its ``HTTPClient``
builds its own ``ConnectionPool``. :class:`SourceBoundClientPool` (the documented
``client_pool`` hook of ``FastHttpUser``) swaps that pool for one whose TCP socket factory
(``_create_tcp_socket``, the hook geventhttpclient provides for socket options) binds the
address; ``tests/unit/loadtests/test_source_address.py`` pins this against a real socket.
A load balancer that is not on loopback (Locust on other machines) is reached without
binding: each load machine is then one client.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

import gevent.socket
from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.connectionpool import ConnectionPool
from geventhttpclient.url import URL

# Locust users: 127.210-249.B.C (one second octet per Locust process); the chaos load
# generator uses 127.10-209.*.* and 127.253-254.*.* (chaos/load_plan.py)
FIRST_OCTET, PROCESS_OCTETS = 210, 40
# rate_limit_burst's burster: one client, whichever user and process sends
BURST_ADDRESS = "127.250.0.1"
_numbers = itertools.count(1)


def user_address(process: int, number: int) -> str:
    """The address of the ``number``-th user (>= 0) of Locust process ``process`` (its
    worker index; 0 when Locust runs in one process): 127.(210 + process).B.C, C in 1..254,
    distinct for 254 x 254 users per process."""
    host, rest = number % 254 + 1, number // 254
    return f"127.{FIRST_OCTET + process % PROCESS_OCTETS}.{rest % 254}.{host}"


def next_user_address(process: int) -> str:
    """A new address, never handed out before by this process."""
    return user_address(process, next(_numbers))


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SourceBoundConnectionPool(ConnectionPool):
    """geventhttpclient's connection pool, every socket bound to ``source_ip`` (port 0)."""

    def __init__(self, source_ip: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source_ip = source_ip

    def _create_tcp_socket(self, family: int, socktype: int, protocol: int) -> Any:
        sock = super()._create_tcp_socket(family, socktype, protocol)
        if family == gevent.socket.AF_INET:
            sock.bind((self.source_ip, 0))
        return sock


class SourceBoundClientPool(HTTPClientPool):
    """One client per host:port, like geventhttpclient's, whose connections to a loopback
    host leave from ``source_ip``. :meth:`rebind` moves it to another address."""

    def __init__(self, source_ip: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_ip = source_ip

    def rebind(self, source_ip: str) -> None:
        """Close every connection; the next ones leave from ``source_ip``."""
        self.close()
        self.source_ip = source_ip

    def get_client(self, url: str | URL) -> HTTPClient:
        if not isinstance(url, URL):
            url = URL(url)
        key = url.host, url.port
        if key not in self.clients:
            client = HTTPClient.from_url(url, **self.client_args)
            if not client.ssl and not client.use_proxy and is_loopback_host(client.host):
                client._connection_pool.close()
                client._connection_pool = SourceBoundConnectionPool(
                    self.source_ip,
                    client.host,
                    client.port,
                    client.host,
                    client.port,
                    size=self.client_args.get("concurrency", 1),
                    disable_ipv6=True,  # an IPv4 source reaches only an IPv4 destination
                    connection_timeout=self.client_args.get(
                        "connection_timeout", ConnectionPool.DEFAULT_CONNECTION_TIMEOUT
                    ),
                    network_timeout=self.client_args.get(
                        "network_timeout", ConnectionPool.DEFAULT_NETWORK_TIMEOUT
                    ),
                )
            self.clients[key] = client
        return self.clients[key]
