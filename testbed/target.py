"""One target of the stack as every engine sees it: URLs, proxies, fakes, deadlines.

``testbed.stack`` writes one :class:`TargetInfo` per target into ``stack.json``
(docs/conventions.md section 14); the chaos engine, the load engine, the fuzzer and the
gate read that same type back, and reach the target's injectors through the clients it
hands out (:meth:`TargetInfo.toxiproxy`, :meth:`TargetInfo.fake_control`...).

The app deadline a target enforces is recorded here (``app_deadline_s``) when the stack
starts or restarts it, computed from the service's environment by
:func:`configured_app_deadline_s`, so the harness never imports a service's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

from testbed.fakes import AsyncFakeControl, FakeControl
from testbed.policies import disabled_policies
from testbed.targets import check_target
from testbed.timeouts import APP_DEADLINE_S, SERVICE_DEFAULT_TIME_SCALE
from testbed.toxiproxy_admin import AsyncToxiproxyAdmin, ToxiproxyAdmin


def configured_app_deadline_s(target: str, env: Mapping[str, str]) -> float | None:
    """The whole-request deadline ``target`` enforces itself with this environment, in
    seconds (already scaled); None when it has none and only the LB or a worker kill ends a
    request. Legacy never has one (the incident); refactored unless ``timeouts`` is off.
    Refactored's default ``REQUEST_DEADLINE_S`` is the production 55 s
    (``testbed.timeouts.APP_DEADLINE_S``; a test checks the two agree)."""
    check_target(target)
    if target == "legacy" or "timeouts" in disabled_policies(env):
        return None
    deadline = float(env.get("REQUEST_DEADLINE_S", APP_DEADLINE_S))
    scale = float(env.get("TIME_SCALE", SERVICE_DEFAULT_TIME_SCALE))
    return deadline * scale


@dataclass(frozen=True)
class FakeInfo:
    url: str
    control_url: str


@dataclass
class TargetInfo:
    lb_url: str
    service_url: str
    metrics_url: str | None
    database_url: str
    admin_token: str
    toxiproxy_url: str
    toxiproxy_kind: str  # "embedded" (doubles.toxiproxy) or "real" (toxiproxy-server)
    proxies: dict[str, str]  # logical name (llm, memory, postgres, rabbitmq) -> server's name
    fakes: dict[str, FakeInfo]
    lb_timeout_s: float  # scaled, like every duration here
    app_timeout_s: float  # gunicorn's budget for a request (the ladder's app rung)
    gunicorn_timeout_s: int
    env: dict[str, str]  # the service's environment (what it runs with)
    name: str = ""  # legacy or refactored
    app_deadline_s: float | None = None  # the deadline the app enforces itself (None: none)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> TargetInfo:
        fields = dict(data)
        fields["fakes"] = {k: FakeInfo(**v) for k, v in data.get("fakes", {}).items()}
        if name is not None:
            fields["name"] = name
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in fields.items() if k in known})

    def with_env(self, env: Mapping[str, str]) -> TargetInfo:
        """This target once restarted with ``env`` (its app deadline follows)."""
        deadline = configured_app_deadline_s(self.name, env) if self.name else None
        token = env.get("ADMIN_TOKEN", "")
        return replace(self, env=dict(env), admin_token=token, app_deadline_s=deadline)

    # ---- clients of the target's injectors
    def toxiproxy(self, timeout: float = 10.0) -> ToxiproxyAdmin:
        """A blocking Toxiproxy client that knows this target's proxy names (close it)."""
        return ToxiproxyAdmin(self.toxiproxy_url, self.proxies, timeout=timeout)

    def async_toxiproxy(self, http: httpx.AsyncClient) -> AsyncToxiproxyAdmin:
        return AsyncToxiproxyAdmin(http, self.toxiproxy_url, self.proxies)

    def fake_control(self, kind: str, timeout: float = 10.0) -> FakeControl:
        """A blocking client of the fake ``kind``'s control API (close it)."""
        return FakeControl(self._fake(kind).control_url, timeout=timeout)

    def async_fake_control(self, kind: str, http: httpx.AsyncClient) -> AsyncFakeControl:
        return AsyncFakeControl(self._fake(kind).control_url, client=http)

    def _fake(self, kind: str) -> FakeInfo:
        try:
            return self.fakes[kind]
        except KeyError:
            raise KeyError(
                f"target {self.name or '?'} has no fake {kind!r} (it has {sorted(self.fakes)})"
            ) from None


__all__ = ["FakeInfo", "TargetInfo", "configured_app_deadline_s"]
