"""Listen addresses resolved as Go's ``net.ResolveTCPAddr("tcp", …)`` resolves them.

Toxiproxy 2.12 compares a proxy's bound ``listen`` with the *resolved* new one
(``Proxy.Differs``, PR #631), so ``localhost:7070`` and ``127.0.0.1:7070`` are one address,
and ``net.Listen`` names the resolved address in its errors. This module reproduces that
resolution and Go's wording of its errors; nothing here binds a socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass


class AddressError(ValueError):
    """An address Go cannot resolve; the message is Go's (``address x: missing port …``)."""


@dataclass(frozen=True)
class TcpAddress:
    """A resolved address: an IP literal (or ``""``: every interface in Go) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        """Go's ``TCPAddr.String()``: ``127.0.0.1:80``, ``[::1]:80``, ``:80``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def split_go_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``, with its error messages."""

    def fail(why: str) -> AddressError:
        return AddressError(f"address {address}: {why}")

    colon = address.rfind(":")
    if colon < 0:
        raise fail("missing port in address")
    start, end = 0, 0
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            raise fail("missing ']' in address")
        if close + 1 == len(address):
            raise fail("missing port in address")
        if close + 1 != colon:
            extra = address[close + 1] == ":"
            raise fail("too many colons in address" if extra else "missing port in address")
        host = address[1:close]
        start, end = 1, close + 1
    else:
        host = address[:colon]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in address[start:]:
        raise fail("unexpected '[' in address")
    if "]" in address[end:]:
        raise fail("unexpected ']' in address")
    return host, address[colon + 1 :]


def _port_number(service: str) -> int:
    """Go's ``LookupPort``: a number (empty = 0) or a service name from /etc/services."""
    if not service:
        return 0
    if service.isdigit():
        port = int(service)
        if port > 65535:
            raise AddressError(f"address {service}: invalid port")
        return port
    try:
        return socket.getservbyname(service, "tcp")
    except OSError:
        raise AddressError(f"lookup tcp/{service}: unknown port") from None


async def resolve_tcp_address(address: str) -> TcpAddress:
    """Resolve ``address`` as Go does: an empty one is ``:0``; a name, its first IPv4 address.

    Raises ``AddressError`` with Go's message for an address that does not split, a bad port
    or a name that does not resolve.
    """
    if not address:
        return TcpAddress("", 0)
    host, service = split_go_host_port(address)
    port = _port_number(service)
    if not host:
        return TcpAddress("", port)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return TcpAddress(await _lookup(host), port)
    if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped is not None:
        literal = literal.ipv4_mapped  # Go prints a v4-mapped address in its IPv4 form
    return TcpAddress(str(literal), port)


async def _lookup(host: str) -> str:
    """The name's first IPv4 address, else its first address (Go's preference for "tcp")."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise AddressError(f"lookup {host}: no such host") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise AddressError(f"lookup {host}: no such host")
    ipv4 = [a for a in addresses if ":" not in a]
    return (ipv4 or addresses)[0]
