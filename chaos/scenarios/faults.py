"""Fault steps the scenarios compose: Toxiproxy toxics, disabled proxies, fakes' faults.

Each ``apply`` reads the injector back and returns whether the fault is really active, so
a scenario whose fault silently did not happen is reported ``invalid``, not ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.scenarios.base import FaultStep, ScenarioContext


def toxic(
    label: str,
    proxy: str,
    kind: str,
    attributes: Mapping[str, Any],
    start_s: float,
    end_s: float,
    *,
    stream: str = "downstream",
) -> FaultStep:
    name = f"chaos_{label}"

    async def apply(ctx: ScenarioContext) -> bool:
        await ctx.toxiproxy.add_toxic(proxy, name, kind, attributes, stream=stream)
        state = await ctx.toxiproxy.proxy(proxy)
        ok = any(t.get("name") == name for t in state.get("toxics", []))
        ctx.facts[label] = {"proxy": proxy, "toxic": kind, "attributes": dict(attributes)}
        return ok

    async def revert(ctx: ScenarioContext) -> None:
        await ctx.toxiproxy.remove_toxic(proxy, name)

    return FaultStep(label, start_s, end_s, apply, revert)


def proxy_down(label: str, proxy: str, start_s: float, end_s: float) -> FaultStep:
    """The dependency is gone: Toxiproxy closes the listener and every open connection."""

    async def apply(ctx: ScenarioContext) -> bool:
        await ctx.toxiproxy.set_enabled(proxy, False)
        state = await ctx.toxiproxy.proxy(proxy)
        ctx.facts[label] = {"proxy": proxy, "enabled": state.get("enabled")}
        return state.get("enabled") is False

    async def revert(ctx: ScenarioContext) -> None:
        await ctx.toxiproxy.set_enabled(proxy, True)

    return FaultStep(label, start_s, end_s, apply, revert)


def fake_faults(
    label: str, kind: str, faults: Mapping[str, Any], start_s: float, end_s: float
) -> FaultStep:
    """A fault inside a fake (429s, 5xx, latency, hang), via its control API."""

    async def apply(ctx: ScenarioContext) -> bool:
        active = await ctx.fake(kind).set_faults(faults)
        ctx.facts[label] = {"fake": kind, "faults": dict(faults)}
        return all(active.get(key) not in (None, False, 0, {}) for key in faults)

    async def revert(ctx: ScenarioContext) -> None:
        await ctx.fake(kind).clear_faults()

    return FaultStep(label, start_s, end_s, apply, revert)
