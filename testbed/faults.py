"""The fault model chaos and load share: what a fault *is*, and one way to inject it.

A fault is one of three things, the same in a chaos scenario and a load scenario:

- :class:`Toxic`: a Toxiproxy toxic on one of the target's proxies (latency, timeout,
  bandwidth, reset_peer...), attributes in Toxiproxy's units (ms, bytes);
- :class:`ProxyDown`: the proxy disabled, so the dependency is gone (connections refused);
- :class:`FakeFaults`: a fault inside a fake (429s, 5xx, latency, hang, malformed answers;
  ``doubles.fakes.faults.FaultConfig``) through its control API.

:class:`FaultInjector` (blocking) and :class:`AsyncFaultInjector` apply one to a
:class:`testbed.target.TargetInfo` under a name and read it back: ``inject`` returns
whether the injector confirms the fault is active, so an engine can call a run whose
fault silently did not happen invalid. ``withdraw`` is idempotent (already gone is fine).

A scenario written in production time scales its fault with :func:`scaled_fault`: the
latencies (a toxic's ``latency`` attribute, a fake's ``latency_ms``) are production
milliseconds and are multiplied by ``TIME_SCALE``; a ``Retry-After`` is not (it is what the
LLM says, the client must honour it as given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from testbed.target import TargetInfo


@dataclass(frozen=True)
class Toxic:
    proxy: str  # logical proxy name: llm, memory, postgres, rabbitmq
    type: str  # Toxiproxy toxic type
    attributes: Mapping[str, Any] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0


@dataclass(frozen=True)
class ProxyDown:
    proxy: str


@dataclass(frozen=True)
class FakeFaults:
    fake: str  # llm, memory or webhook
    config: Mapping[str, Any]


Fault = Toxic | ProxyDown | FakeFaults


def facts(fault: Fault) -> dict[str, Any]:
    """What a report says about an injected fault."""
    if isinstance(fault, Toxic):
        return {"proxy": fault.proxy, "toxic": fault.type, "attributes": dict(fault.attributes)}
    if isinstance(fault, ProxyDown):
        return {"proxy": fault.proxy, "enabled": False}
    return {"fake": fault.fake, "faults": dict(fault.config)}


def _scaled_ms(ms: float, time_scale: float) -> int:
    return max(1, math.ceil(ms * time_scale))  # whole ms, never 0 (0 means "no latency")


def scaled_fault(fault: Fault, time_scale: float) -> Fault:
    """``fault`` with its production latencies (ms) scaled by ``time_scale``."""
    if isinstance(fault, Toxic) and "latency" in fault.attributes:
        attributes = {**fault.attributes}
        attributes["latency"] = _scaled_ms(attributes["latency"], time_scale)
        return replace(fault, attributes=attributes)
    if isinstance(fault, FakeFaults) and "latency_ms" in fault.config:
        config = {**fault.config}
        config["latency_ms"] = _scaled_ms(config["latency_ms"], time_scale)
        return replace(fault, config=config)
    return fault


def _toxic_active(state: Mapping[str, Any], name: str) -> bool:
    return any(t.get("name") == name for t in state.get("toxics") or [])


def _fake_faults_active(active: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    return all(active.get(key) not in (None, False, 0, {}) for key in config)


class AsyncFaultInjector:
    """Injects faults into one target over the caller's ``httpx.AsyncClient``."""

    def __init__(self, target: TargetInfo, http: httpx.AsyncClient) -> None:
        self.target, self.http = target, http
        self.toxiproxy = target.async_toxiproxy(http)

    async def inject(self, fault: Fault, name: str) -> bool:
        """Apply ``fault`` (toxics are named ``name``); True when read back active."""
        if isinstance(fault, Toxic):
            await self.toxiproxy.add_toxic(
                fault.proxy, name, fault.type, fault.attributes,
                stream=fault.stream, toxicity=fault.toxicity,
            )  # fmt: skip
            return _toxic_active(await self.toxiproxy.proxy(fault.proxy), name)
        if isinstance(fault, ProxyDown):
            await self.toxiproxy.set_enabled(fault.proxy, False)
            return (await self.toxiproxy.proxy(fault.proxy)).get("enabled") is False
        fake = self.target.async_fake_control(fault.fake, self.http)
        return _fake_faults_active(await fake.set_faults(fault.config), fault.config)

    async def withdraw(self, fault: Fault, name: str) -> None:
        if isinstance(fault, Toxic):
            await self.toxiproxy.remove_toxic(fault.proxy, name)
        elif isinstance(fault, ProxyDown):
            await self.toxiproxy.set_enabled(fault.proxy, True)
        else:
            await self.target.async_fake_control(fault.fake, self.http).clear_faults()


class FaultInjector:
    """Blocking twin of :class:`AsyncFaultInjector` (threads of the load engine); close it."""

    def __init__(self, target: TargetInfo, timeout: float = 10.0) -> None:
        self.target = target
        self.toxiproxy = target.toxiproxy(timeout=timeout)
        self._fakes = {kind: target.fake_control(kind, timeout) for kind in target.fakes}

    def inject(self, fault: Fault, name: str) -> bool:
        if isinstance(fault, Toxic):
            self.toxiproxy.add_toxic(
                fault.proxy, name, fault.type, fault.attributes,
                stream=fault.stream, toxicity=fault.toxicity,
            )  # fmt: skip
            return _toxic_active(self.toxiproxy.proxy(fault.proxy), name)
        if isinstance(fault, ProxyDown):
            self.toxiproxy.set_enabled(fault.proxy, False)
            return self.toxiproxy.proxy(fault.proxy).get("enabled") is False
        return _fake_faults_active(self._fakes[fault.fake].set_faults(fault.config), fault.config)

    def withdraw(self, fault: Fault, name: str) -> None:
        if isinstance(fault, Toxic):
            self.toxiproxy.remove_toxic(fault.proxy, name)
        elif isinstance(fault, ProxyDown):
            self.toxiproxy.set_enabled(fault.proxy, True)
        else:
            self._fakes[fault.fake].clear_faults()

    def close(self) -> None:
        self.toxiproxy.close()
        for control in self._fakes.values():
            control.close()
