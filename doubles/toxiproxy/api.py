"""Toxiproxy's HTTP API on aiohttp.web (same process and event loop as the TCP proxies).

aiohttp rather than FastAPI: the API is a dozen plain JSON routes, the proxies already live
on this asyncio loop, and Toxiproxy's exact status codes and error bodies are easier to keep
without a validation layer that answers 422 by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from doubles.toxiproxy import VERSION, wire
from doubles.toxiproxy.addresses import AddressError, resolve_tcp_address
from doubles.toxiproxy.proxy import Proxy, is_loopback
from doubles.toxiproxy.toxics import (
    ApiError,
    bad_body,
    bad_request,
    json_kind,
    toxic_from_json,
    update_toxic,
)

log = logging.getLogger("doubles.toxiproxy")

DEFAULT_LISTEN = "127.0.0.1:0"  # Toxiproxy's default is "" (all interfaces); loopback here

ProxyFields = tuple[str, str, str, bool]  # name, listen, upstream, enabled


class ProxyRegistry:
    """All proxies of one server, plus the seed behind every random choice."""

    def __init__(self, seed: int, allow_non_loopback: bool = False) -> None:
        self.seed = seed
        self.allow_non_loopback = allow_non_loopback
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()  # API mutations are serialised, as in Toxiproxy

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    async def start(self, proxy: Proxy) -> None:
        """Bind ``proxy``; its ``listen`` is only resolved now, as in Toxiproxy (500 if bad)."""
        try:
            address = await resolve_tcp_address(proxy.listen)
        except AddressError as exc:
            raise ApiError(f"listen tcp: {exc}", 500) from None  # net.Listen's wording
        if not self.allow_non_loopback and not is_loopback(address.host or "127.0.0.1"):
            # this server's own rule (Toxiproxy has none): refused before anything is bound
            raise bad_request(
                f"listen {proxy.listen!r} is not a loopback address; this server only binds "
                "127.0.0.1/::1 (start it with --allow-non-loopback to change that)"
            )
        await proxy.start(address)

    @staticmethod
    async def differs(proxy: Proxy, listen: str, upstream: str) -> bool:
        """Toxiproxy 2.12's ``Proxy.Differs``: is (``listen``, ``upstream``) another address?

        ``listen`` is resolved before it is compared with the proxy's own (as bound, when it
        runs), so ``localhost:7070`` is ``127.0.0.1:7070``; ``:0`` never matches a bound
        port. A ``listen`` that does not resolve is a 500 with Go's message, and changes
        nothing.
        """
        try:
            resolved = await resolve_tcp_address(listen)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        return proxy.listen != str(resolved) or proxy.upstream != upstream

    @staticmethod
    def decode_proxy(body: object) -> dict[str, Any]:
        """Go's decoding of one proxy object: wrong JSON types are ``bad request body``."""
        if body is None:
            return {}  # JSON null decodes to nothing: Go leaves every field at its default
        if not isinstance(body, dict):
            raise bad_body(f"expected a JSON object, got a JSON {json_kind(body)}")
        for key in ("name", "listen", "upstream"):
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                raise bad_body(f"{key} must be a string, got a JSON {json_kind(value)}")
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise bad_body(f"enabled must be true or false, got a JSON {json_kind(enabled)}")
        return body

    @staticmethod
    def required_fields(fields: dict[str, Any], where: str = "") -> ProxyFields:
        """Toxiproxy's checks after decoding: ``name``, then ``upstream``; nothing else.

        ``upstream`` is not parsed (a bad one fails when a client connects) and ``listen``
        only when the proxy starts.
        """
        name, upstream = fields.get("name") or "", fields.get("upstream") or ""
        if not name:
            raise bad_request(f"missing required field: name{where}")
        if not upstream:
            raise bad_request(f"missing required field: upstream{where}")
        enabled = fields.get("enabled")
        return name, fields.get("listen") or DEFAULT_LISTEN, upstream, enabled is not False

    async def create(self, body: object) -> Proxy:
        """POST /proxies: as Toxiproxy's ``ProxyCreate`` and ``ProxyCollection.Add``."""
        name, listen, upstream, enabled = self.required_fields(self.decode_proxy(body))
        if name in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = Proxy(name, listen, upstream, self.seed)
        if enabled:
            await self.start(proxy)
        self.proxies[name] = proxy
        return proxy

    async def populate(self, body: object) -> tuple[list[Proxy], ApiError | None]:
        """POST /populate (and ``--config``), as Toxiproxy 2.12's ``PopulateJson``.

        Every item is decoded and checked (name, upstream) before anything changes; those
        errors change nothing. Then each item in order goes through ``AddOrReplace``: a proxy
        of that name that does not ``differs`` (same resolved ``listen``, same ``upstream``)
        is left exactly as it is (toxics, connections, and its enabled state: the item's
        ``enabled`` is ignored) and listed as it is; any other is stopped and replaced by a
        new one, started unless ``enabled`` is false. A failure there (a listen that does not
        resolve or bind) stops the loop: what was done before it stays done and is returned
        with the error.
        """
        if body is None:
            body = []
        if not isinstance(body, list):
            raise bad_body(f"expected a JSON array of proxies, got a JSON {json_kind(body)}")
        decoded = [self.decode_proxy(item) for item in body]
        items = [
            self.required_fields(fields, f" at proxy {index}")
            for index, fields in enumerate(decoded, start=1)
        ]
        result: list[Proxy] = []
        for name, listen, upstream, enabled in items:
            proxy = Proxy(name, listen, upstream, self.seed)
            existing = self.proxies.get(name)
            try:
                if existing is not None:
                    if not await self.differs(existing, listen, upstream):
                        result.append(existing)
                        continue
                    await existing.stop()  # stays registered, stopped, if the new one fails
                if enabled:
                    await self.start(proxy)
            except ApiError as exc:
                return result, exc
            self.proxies[name] = proxy
            result.append(proxy)
        return result, None

    async def update(self, proxy: Proxy, body: object) -> None:
        """POST/PATCH /proxies/{proxy}, as Toxiproxy's ``Proxy.Update``.

        The addresses are compared as ``differs`` does (another spelling of the bound
        ``listen`` changes nothing); a proxy whose addresses do differ is restarted.
        """
        fields = self.decode_proxy(body)
        listen = fields.get("listen") or proxy.listen
        upstream = fields.get("upstream") or proxy.upstream
        enabled = fields.get("enabled")
        enabled = proxy.enabled if enabled is None else enabled
        if await self.differs(proxy, listen, upstream):
            await proxy.stop()
            proxy.listen, proxy.upstream = listen, upstream
        if enabled and not proxy.enabled:
            await self.start(proxy)
        elif not enabled and proxy.enabled:
            await proxy.stop()

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()


def _error(exc: ApiError) -> web.Response:
    """Toxiproxy's ``apiError``: the JSON goes through Go's ``http.Error``.

    So the body ends with a newline and is served as ``text/plain; charset=utf-8`` with
    ``X-Content-Type-Options: nosniff`` (``http.Error`` overrides the JSON content type).
    """
    body = wire.go_json({"error": exc.message, "status": exc.status}).decode()
    return wire.http_error(body, exc.status)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc)


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")  # Python accepts NaN/Infinity; Go does not


def _decode(raw: bytes) -> object:
    """Go's ``json.NewDecoder(body).Decode``: an empty body is ``bad request body: EOF``."""
    if not raw.strip():
        raise bad_body("EOF")
    try:
        return json.loads(raw, parse_constant=_not_json)
    except ValueError as exc:
        raise bad_body(str(exc)) from exc


def _registry(request: web.Request) -> ProxyRegistry:
    return request.app[REGISTRY]


REGISTRY = web.AppKey("registry", ProxyRegistry)


async def list_proxies(request: web.Request) -> web.Response:
    registry = _registry(request)
    return wire.json_response({n: p.to_json() for n, p in registry.proxies.items()})


async def create_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    body = _decode(await request.read())
    async with registry.lock:
        proxy = await registry.create(body)
    return wire.json_response(proxy.to_json(), status=201)


async def populate(request: web.Request) -> web.Response:
    """Create or replace a list of proxies; unchanged ones (same listen/upstream) are kept.

    As Toxiproxy's ``Populate`` handler, every answer (errors too) is application/json with
    a ``proxies`` key: the proxies handled before a failure, ``null`` when there are none.
    """
    registry = _registry(request)
    proxies: list[Proxy] = []
    error: ApiError | None
    try:
        body = _decode(await request.read())
        async with registry.lock:
            proxies, error = await registry.populate(body)
    except ApiError as exc:
        error = exc
    payload: dict[str, object] = {}
    if error is not None:
        log.warning("populate: %s", error.message)
        payload = {"error": error.message, "status": error.status}
    payload["proxies"] = [p.to_json() for p in proxies] or None
    return wire.json_response(payload, status=error.status if error else 201)


async def get_proxy(request: web.Request) -> web.Response:
    return wire.json_response(_registry(request).get(request.match_info["proxy"]).to_json())


async def update_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])  # 404 before the body is read
        await registry.update(proxy, _decode(raw))
    return wire.json_response(proxy.to_json())


async def delete_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        await registry.delete(request.match_info["proxy"])
    log.info("proxy %s deleted", request.match_info["proxy"])
    return web.Response(status=204)


async def list_toxics(request: web.Request) -> web.Response:
    proxy = _registry(request).get(request.match_info["proxy"])
    return wire.json_response([t.to_json() for t in proxy.toxics])


async def create_toxic(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])  # 404 before the body is read
        toxic = toxic_from_json(_decode(raw), taken={t.name for t in proxy.toxics})
        proxy.set_toxics([*proxy.toxics, toxic])
    log.info("proxy %s: added toxic %s", proxy.name, toxic.to_json())
    return wire.json_response(toxic.to_json())


def _find_toxic(proxy: Proxy, name: str) -> int:
    for index, toxic in enumerate(proxy.toxics):
        if toxic.name == name:
            return index
    raise ApiError("toxic not found", 404)


async def get_toxic(request: web.Request) -> web.Response:
    proxy = _registry(request).get(request.match_info["proxy"])
    index = _find_toxic(proxy, request.match_info["toxic"])
    return wire.json_response(proxy.toxics[index].to_json())


async def update_toxic_handler(request: web.Request) -> web.Response:
    registry = _registry(request)
    raw = await request.read()
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        index = _find_toxic(proxy, request.match_info["toxic"])  # 404s before the body
        toxics = list(proxy.toxics)
        toxics[index] = update_toxic(toxics[index], _decode(raw))
        proxy.set_toxics(toxics)
    log.info("proxy %s: updated toxic %s", proxy.name, toxics[index].to_json())
    return wire.json_response(toxics[index].to_json())


async def delete_toxic(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        index = _find_toxic(proxy, request.match_info["toxic"])
        removed = proxy.toxics[index].name
        proxy.set_toxics([t for i, t in enumerate(proxy.toxics) if i != index])
    log.info("proxy %s: removed toxic %s", proxy.name, removed)
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    """Enable every proxy and remove every toxic (removing a timeout closes, as always)."""
    registry = _registry(request)
    async with registry.lock:
        for proxy in registry.proxies.values():
            if not proxy.enabled:
                await registry.start(proxy)
            proxy.set_toxics([])
    log.info("reset: every proxy enabled, every toxic removed")
    return web.Response(status=204)


async def version(_request: web.Request) -> web.Response:
    """Toxiproxy's ``Version``: formatted by hand (note the space), with its own type."""
    return web.Response(
        body=f'{{"version": "{VERSION}"}}\n'.encode(),
        headers={"Content-Type": wire.VERSION_TYPE},
    )


def create_app(registry: ProxyRegistry) -> web.Application:
    app = web.Application(middlewares=[wire.middleware(wire.RequestIds()), _errors])
    app[REGISTRY] = registry
    app.on_response_prepare.append(wire.identify)
    # no HEAD beside GET: mux's Methods("GET") does not match it, so Toxiproxy answers 405
    app.router.add_get("/proxies", list_proxies, allow_head=False)
    app.router.add_post("/proxies", create_proxy)
    app.router.add_post("/populate", populate)
    app.router.add_get("/proxies/{proxy}", get_proxy, allow_head=False)
    app.router.add_post("/proxies/{proxy}", update_proxy)
    app.router.add_patch("/proxies/{proxy}", update_proxy)
    app.router.add_delete("/proxies/{proxy}", delete_proxy)
    app.router.add_get("/proxies/{proxy}/toxics", list_toxics, allow_head=False)
    app.router.add_post("/proxies/{proxy}/toxics", create_toxic)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", get_toxic, allow_head=False)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", update_toxic_handler)
    app.router.add_patch("/proxies/{proxy}/toxics/{toxic}", update_toxic_handler)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic)
    app.router.add_post("/reset", reset)
    app.router.add_get("/version", version, allow_head=False)

    async def _stop_proxies(_app: web.Application) -> None:
        await registry.close()

    app.on_shutdown.append(_stop_proxies)
    return app
