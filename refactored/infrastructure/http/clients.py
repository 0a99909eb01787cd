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


class JsonPoster:
    """POST a JSON body to one URL through the client's transport, without the client's
    request pipeline (auth and redirect flows, cookie jar, event hooks: none of them used by
    our dependencies; about 0.1 ms of CPU per call, docs/performance.md).

    What the pipeline would send is kept: the client's default headers (User-Agent, Accept,
    Accept-Encoding) merged with ``headers``, the client's timeouts, its transport (pool,
    TLS verification). The body is read and the connection released before returning;
    transport errors are httpx's own, as through the client.
    """

    def __init__(self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str]) -> None:
        self._client = client
        self._url = url
        self._headers = httpx.Headers(client.headers)
        self._headers.update(headers)
        self._extensions = {"timeout": client.timeout.as_dict()}

    async def __call__(self, body: object) -> httpx.Response:
        request = httpx.Request(
            "POST", self._url, json=body, headers=self._headers, extensions=self._extensions
        )
        response = await self._client._transport_for_url(self._url).handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response
