"""Who the client is, for the rate limiter: never a value the client alone chose.

The TCP peer (``scope["client"]``) is the client, unless it is one of TRUSTED_PROXIES
(the load balancer). Then each trusted hop has appended the address it saw to
``X-Forwarded-For``, so the chain is read from the right: the right-most address that is
not a trusted proxy is the client. Everything to its left was written by the client and
is ignored (a forged ``X-Forwarded-For: 1.2.3.4`` from a direct client changes nothing).

uvicorn must not rewrite ``scope["client"]`` first (its ProxyHeadersMiddleware, on by
default for peers in ``--forwarded-allow-ips``, replaces the peer with an address from
the header and loses it): run gunicorn with ``--forwarded-allow-ips ""``.

An IPv6 client is keyed by its /64: one host is routinely given a whole /64 and could
take a fresh address per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPV6_PREFIX = 64
KNOWN_KEYS = 4096  # (peer, chain) -> key answers kept: parsing addresses was ~1 % of a request
UNKNOWN = "unknown"  # no peer at all (an in-process test client without one)

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def parse_hop(value: str) -> Address | None:
    """An address from one X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``,
    ``[2001:db8::1]:80``, ``2001:db8::1``); None when it is not an address."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_chain(header_values: Iterable[str]) -> list[str]:
    """Every X-Forwarded-For entry in order (several headers are one list, RFC 9110)."""
    return [hop.strip() for value in header_values for hop in value.split(",") if hop.strip()]


def is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(peer: str | None, chain: Sequence[str], trusted: Sequence[Network]) -> str:
    """The rate-limit key of a request from ``peer`` with X-Forwarded-For ``chain``.

    A pure function of its arguments, so the answers for the most recent KNOWN_KEYS
    (peer, chain, trusted) are kept (docs/performance.md)."""
    if not peer:
        return UNKNOWN
    return _client_key(peer, tuple(chain), tuple(trusted))


@lru_cache(maxsize=KNOWN_KEYS)
def _client_key(peer: str, chain: tuple[str, ...], trusted: tuple[Network, ...]) -> str:
    peer_address = parse_hop(peer)
    if peer_address is None:  # a Unix socket path: nothing to trust, key on it as it is
        return peer
    client = peer_address
    if is_trusted(peer_address, trusted):
        for hop in reversed(chain):
            address = parse_hop(hop)
            if address is None:
                break  # not an address: the trusted hop to its right is all we know
            client = address
            if not is_trusted(address, trusted):
                break
    return key_of(client)


def key_of(address: Address) -> str:
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
