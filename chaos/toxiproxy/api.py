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

from chaos.toxiproxy import VERSION
from chaos.toxiproxy.proxy import Proxy, is_loopback, split_host_port
from chaos.toxiproxy.toxics import ApiError, bad_request, toxic_from_json, update_toxic

log = logging.getLogger("chaos.toxiproxy")


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

    def check_listen(self, listen: str) -> str:
        host, _port = split_host_port(listen)
        if not self.allow_non_loopback and not is_loopback(host):
            raise bad_request(
                f"listen {listen!r} is not a loopback address; this server only binds "
                "127.0.0.1/::1 (start it with --allow-non-loopback to change that)"
            )
        return listen if listen.rpartition(":")[0] else f"127.0.0.1{listen}"

    def parse_proxy(self, body: object) -> tuple[str, str, str, bool]:
        if not isinstance(body, dict):
            raise bad_request("bad request body")
        name, upstream = body.get("name"), body.get("upstream")
        if not isinstance(name, str) or not name:
            raise bad_request("name: missing required field")
        if not isinstance(upstream, str) or not upstream:
            raise bad_request("upstream: missing required field")
        split_host_port(upstream)
        listen = body.get("listen") or "127.0.0.1:0"
        if not isinstance(listen, str):
            raise bad_request("listen must be a host:port string")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise bad_request("enabled must be true or false")
        return name, self.check_listen(listen), upstream, enabled

    async def create(self, body: object) -> Proxy:
        name, listen, upstream, enabled = self.parse_proxy(body)
        if name in self.proxies:
            raise ApiError("proxy already exists", 409)
        proxy = Proxy(name, listen, upstream, self.seed)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def populate(self, items: list[object]) -> list[Proxy]:
        """Create or replace ``items``; one with an unchanged listen/upstream is kept."""
        parsed = [self.parse_proxy(item) for item in items]  # validate all before changing any
        result: list[Proxy] = []
        for item, (name, listen, upstream, enabled) in zip(items, parsed, strict=True):
            existing = self.proxies.get(name)
            if existing is not None:
                # as Toxiproxy: kept only if listen (as bound) and upstream are unchanged,
                # so a ":0" listen always gets a fresh proxy on a new port
                if existing.upstream == upstream and existing.listen == listen:
                    if enabled and not existing.enabled:
                        await existing.start()
                    elif not enabled and existing.enabled:
                        await existing.stop()
                    result.append(existing)
                    continue
                await self.delete(name)
            result.append(await self.create(item))
        return result

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()


def _error(exc: ApiError) -> web.Response:
    return web.json_response({"error": exc.message, "status": exc.status}, status=exc.status)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc)


async def _body(request: web.Request) -> object:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise bad_request("bad request body") from exc


def _registry(request: web.Request) -> ProxyRegistry:
    return request.app[REGISTRY]


REGISTRY = web.AppKey("registry", ProxyRegistry)


async def list_proxies(request: web.Request) -> web.Response:
    registry = _registry(request)
    return web.json_response({n: p.to_json() for n, p in registry.proxies.items()})


async def create_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    body = await _body(request)
    async with registry.lock:
        proxy = await registry.create(body)
    return web.json_response(proxy.to_json(), status=201)


async def populate(request: web.Request) -> web.Response:
    """Create or replace a list of proxies; unchanged ones (same listen/upstream) are kept."""
    registry = _registry(request)
    body = await _body(request)
    if not isinstance(body, list):
        raise bad_request("bad request body: expected a JSON array of proxies")
    async with registry.lock:
        proxies = await registry.populate(body)
    return web.json_response({"proxies": [p.to_json() for p in proxies]}, status=201)


async def get_proxy(request: web.Request) -> web.Response:
    return web.json_response(_registry(request).get(request.match_info["proxy"]).to_json())


async def update_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise bad_request("bad request body")
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        listen = body.get("listen") or proxy.listen
        upstream = body.get("upstream") or proxy.upstream
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(listen, str) or not isinstance(upstream, str):
            raise bad_request("listen and upstream must be host:port strings")
        if not isinstance(enabled, bool):
            raise bad_request("enabled must be true or false")
        listen = registry.check_listen(listen)
        split_host_port(upstream)
        if listen != proxy.listen or upstream != proxy.upstream:
            await proxy.stop()  # Toxiproxy restarts a proxy whose addresses change
            proxy.listen, proxy.upstream = listen, upstream
        if enabled and not proxy.enabled:
            await proxy.start()
        elif not enabled and proxy.enabled:
            await proxy.stop()
    return web.json_response(proxy.to_json())


async def delete_proxy(request: web.Request) -> web.Response:
    registry = _registry(request)
    async with registry.lock:
        await registry.delete(request.match_info["proxy"])
    log.info("proxy %s deleted", request.match_info["proxy"])
    return web.Response(status=204)


async def list_toxics(request: web.Request) -> web.Response:
    proxy = _registry(request).get(request.match_info["proxy"])
    return web.json_response([t.to_json() for t in proxy.toxics])


async def create_toxic(request: web.Request) -> web.Response:
    registry = _registry(request)
    body = await _body(request)
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        toxic = toxic_from_json(body)
        if any(t.name == toxic.name for t in proxy.toxics):
            raise ApiError("toxic already exists", 409)
        proxy.set_toxics([*proxy.toxics, toxic])
    log.info("proxy %s: added toxic %s", proxy.name, toxic.to_json())
    return web.json_response(toxic.to_json())


def _find_toxic(proxy: Proxy, name: str) -> int:
    for index, toxic in enumerate(proxy.toxics):
        if toxic.name == name:
            return index
    raise ApiError("toxic not found", 404)


async def get_toxic(request: web.Request) -> web.Response:
    proxy = _registry(request).get(request.match_info["proxy"])
    index = _find_toxic(proxy, request.match_info["toxic"])
    return web.json_response(proxy.toxics[index].to_json())


async def update_toxic_handler(request: web.Request) -> web.Response:
    registry = _registry(request)
    body = await _body(request)
    async with registry.lock:
        proxy = registry.get(request.match_info["proxy"])
        index = _find_toxic(proxy, request.match_info["toxic"])
        toxics = list(proxy.toxics)
        toxics[index] = update_toxic(toxics[index], body)
        proxy.set_toxics(toxics)
    log.info("proxy %s: updated toxic %s", proxy.name, toxics[index].to_json())
    return web.json_response(toxics[index].to_json())


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
    """Enable every proxy and remove every toxic."""
    registry = _registry(request)
    async with registry.lock:
        for proxy in registry.proxies.values():
            if not proxy.enabled:
                await proxy.start()
            proxy.set_toxics([])
    log.info("reset: every proxy enabled, every toxic removed")
    return web.Response(status=204)


async def version(_request: web.Request) -> web.Response:
    return web.Response(
        text=json.dumps({"version": VERSION}) + "\n",
        content_type="application/json",
        charset="utf-8",
    )


def create_app(registry: ProxyRegistry) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[REGISTRY] = registry
    app.router.add_get("/proxies", list_proxies)
    app.router.add_post("/proxies", create_proxy)
    app.router.add_post("/populate", populate)
    app.router.add_get("/proxies/{proxy}", get_proxy)
    app.router.add_post("/proxies/{proxy}", update_proxy)
    app.router.add_patch("/proxies/{proxy}", update_proxy)
    app.router.add_delete("/proxies/{proxy}", delete_proxy)
    app.router.add_get("/proxies/{proxy}/toxics", list_toxics)
    app.router.add_post("/proxies/{proxy}/toxics", create_toxic)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", get_toxic)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", update_toxic_handler)
    app.router.add_patch("/proxies/{proxy}/toxics/{toxic}", update_toxic_handler)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", delete_toxic)
    app.router.add_post("/reset", reset)
    app.router.add_get("/version", version)

    async def _stop_proxies(_app: web.Application) -> None:
        await registry.close()

    app.on_shutdown.append(_stop_proxies)
    return app
