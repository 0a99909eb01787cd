"""One client of Toxiproxy's admin API (the same on toxiproxy-server and doubles.toxiproxy).

A thin module rather than the ``toxiproxy-python`` library the project depends on:
that library keeps the server's host and port in class attributes of its
``APIConsumer`` (one server per process, while the stack runs one per target, booted
in parallel threads) and is blocking (``requests``), while the chaos engine's fault
clock and load share one event loop that must not stall. Each call of the API is
described once (:class:`_Call`); :class:`ToxiproxyAdmin` sends it with a blocking
``httpx.Client`` (the stack, the load engine's threads), :class:`AsyncToxiproxyAdmin`
with an ``httpx.AsyncClient`` (the chaos engine).

Proxies are addressed by their *logical* name (``llm``, ``memory``, ``postgres``,
``rabbitmq``); ``names`` maps it to the server's name when they differ (a shared
``TOXIPROXY_URL`` prefixes them with the target: ``refactored_llm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from testbed.net import LOOPBACK


class ToxiproxyError(httpx.HTTPStatusError):
    """Toxiproxy refused a call; the message says which and what it answered (an
    ``httpx.HTTPError``, so a caller that tolerates a flaky dependency catches both)."""


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    missing_ok: bool = False  # a 404 means "already gone", not an error
    expect_json: bool = True


def _checked(call: _Call, response: httpx.Response) -> Any:
    if call.missing_ok and response.status_code == 404:
        return None
    if response.status_code >= 300:
        raise ToxiproxyError(
            f"Toxiproxy {call.method} {call.path} answered {response.status_code}: "
            f"{response.text.strip()[:300]}",
            request=response.request,
            response=response,
        )
    return response.json() if call.expect_json and response.content else None


@dataclass(frozen=True)
class _Api:
    """The calls, by logical proxy name."""

    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, proxy: str) -> str:
        return self.names.get(proxy, proxy)

    def version(self) -> _Call:
        return _Call("GET", "/version", expect_json=False)

    def proxy(self, proxy: str) -> _Call:
        return _Call("GET", f"/proxies/{self.name(proxy)}")

    def create(self, proxy: str, upstream: str, listen: str) -> _Call:
        body = {"name": self.name(proxy), "listen": listen, "upstream": upstream, "enabled": True}
        return _Call("POST", "/proxies", body)

    def delete(self, proxy: str) -> _Call:
        return _Call("DELETE", f"/proxies/{self.name(proxy)}", missing_ok=True, expect_json=False)

    def set_enabled(self, proxy: str, enabled: bool) -> _Call:
        return _Call("POST", f"/proxies/{self.name(proxy)}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        attributes: Mapping[str, Any],
        stream: str,
        toxicity: float,
    ) -> _Call:
        body = {
            "name": name,
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        return _Call("POST", f"/proxies/{self.name(proxy)}/toxics", body)

    def remove_toxic(self, proxy: str, name: str) -> _Call:
        path = f"/proxies/{self.name(proxy)}/toxics/{name}"
        return _Call("DELETE", path, missing_ok=True, expect_json=False)

    def reset(self) -> _Call:
        return _Call("POST", "/reset", expect_json=False)


def loopback_listen(listen: str) -> str:
    """A proxy's ``listen`` as a dialable address: toxiproxy-server reports the bind
    address as given (``[::]:P``, ``0.0.0.0:P``); the harness binds loopback only."""
    host, _, port = listen.rpartition(":")
    return f"{LOOPBACK}:{port}" if host in ("", "[::]", "0.0.0.0") else listen


class ToxiproxyAdmin:
    """Blocking client: ``ToxiproxyAdmin(url, names)``; close it (or use ``with``)."""

    def __init__(
        self,
        url: str,
        names: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.api = _Api(dict(names or {}))
        self._own = http is None
        self._http = http or httpx.Client(timeout=timeout)

    def _send(self, call: _Call) -> Any:
        response = self._http.request(call.method, f"{self.url}{call.path}", json=call.body)
        return _checked(call, response)

    def version(self) -> None:
        self._send(self.api.version())

    def proxy(self, proxy: str) -> dict[str, Any]:
        return dict(self._send(self.api.proxy(proxy)))

    def create_proxy(self, proxy: str, upstream: str, listen: str = f"{LOOPBACK}:0") -> str:
        """Create (or replace) ``proxy``; returns the address it listens on."""
        self._send(self.api.delete(proxy))
        created = self._send(self.api.create(proxy, upstream, listen))
        return loopback_listen(str(created["listen"]))

    def delete_proxy(self, proxy: str) -> None:
        self._send(self.api.delete(proxy))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._send(self.api.set_enabled(proxy, enabled))

    def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        attributes: Mapping[str, Any],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        self._send(self.api.add_toxic(proxy, name, kind, attributes, stream, toxicity))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._send(self.api.remove_toxic(proxy, name))

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._send(self.api.reset())

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> ToxiproxyAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncToxiproxyAdmin:
    """Async client over a caller's ``httpx.AsyncClient`` (the caller closes it)."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, names: Mapping[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.api = _Api(dict(names or {}))
        self._http = http

    async def _send(self, call: _Call) -> Any:
        response = await self._http.request(call.method, f"{self.url}{call.path}", json=call.body)
        return _checked(call, response)

    async def proxy(self, proxy: str) -> dict[str, Any]:
        return dict(await self._send(self.api.proxy(proxy)))

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        await self._send(self.api.set_enabled(proxy, enabled))

    async def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        attributes: Mapping[str, Any],
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        await self._send(self.api.add_toxic(proxy, name, kind, attributes, stream, toxicity))

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._send(self.api.remove_toxic(proxy, name))

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._send(self.api.reset())
