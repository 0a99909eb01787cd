"""Shared httpx.AsyncClient per dependency: pooled, explicit timeouts, TLS verification on.

The transport is httpx-aiohttp by default: benchmarks/http_transports.py shows
plain httpx saturating a core far below the target concurrency (encode/httpx#3215)
while the aiohttp transport keeps the httpx API (and respx) at aiohttp's speed.
"""

from __future__ import annotations

import ssl

import httpx
from httpx_aiohttp import AiohttpTransport


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """Verification is always on; a custom CA bundle may replace the system store."""
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return True


def build_client(
    base_url: str,
    *,
    timeout_s: float | None,
    connect_timeout_s: float | None,
    max_connections: int,
    transport: str = "aiohttp",
    ca_bundle: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    verify = tls_verify(ca_bundle)
    async_transport: httpx.AsyncBaseTransport
    if transport == "aiohttp":
        async_transport = AiohttpTransport(verify=verify, limits=limits)
    else:
        async_transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    return httpx.AsyncClient(
        base_url=base_url, timeout=timeout, transport=async_transport, headers=headers or {}
    )


def endpoint(client: httpx.AsyncClient, path: str) -> httpx.URL:
    """``path`` under the client's base URL, resolved once, exactly as httpx merges it.

    httpx parses and merges a relative URL on every request; an absolute one is used as is.
    """
    base = client.base_url
    return base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii"))
