"""Fault steps the scenarios compose: Toxiproxy toxics, disabled proxies, fakes' faults.

Each is a fault of the shared model (``testbed.faults``: the same a load scenario
injects) on a window of the scenario clock. ``apply`` reads the injector back and returns
whether the fault is really active, so a scenario whose fault silently did not happen is
reported ``invalid``, not ``pass``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.scenarios.context import FaultStep, ScenarioContext
from testbed.faults import AsyncFaultInjector, FakeFaults, Fault, ProxyDown, Toxic, facts


def step(label: str, fault: Fault, start_s: float, end_s: float) -> FaultStep:
    """``fault`` active from ``start_s`` to ``end_s``; a toxic is named ``chaos_<label>``."""
    name = f"chaos_{label}"

    async def apply(ctx: ScenarioContext) -> bool:
        confirmed = await AsyncFaultInjector(ctx.endpoints, ctx.http).inject(fault, name)
        ctx.facts[label] = facts(fault)
        return confirmed

    async def revert(ctx: ScenarioContext) -> None:
        await AsyncFaultInjector(ctx.endpoints, ctx.http).withdraw(fault, name)

    return FaultStep(label, start_s, end_s, apply, revert)


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
    return step(label, Toxic(proxy, kind, dict(attributes), stream), start_s, end_s)


def proxy_down(label: str, proxy: str, start_s: float, end_s: float) -> FaultStep:
    """The dependency is gone: Toxiproxy closes the listener and every open connection."""
    return step(label, ProxyDown(proxy), start_s, end_s)


def fake_faults(
    label: str, kind: str, faults: Mapping[str, Any], start_s: float, end_s: float
) -> FaultStep:
    """A fault inside a fake (429s, 5xx, latency, hang, malformed), via its control API."""
    return step(label, FakeFaults(kind, dict(faults)), start_s, end_s)
