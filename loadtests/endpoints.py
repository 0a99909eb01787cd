"""One target of the stack as the load engine sees it, from a stack object or stack.json.

``make load`` hands the runner the booted stack's target objects; ``locust -f
loadtests/locustfile.py --stack .stack/stack.json --target legacy`` reads the file
``make up`` wrote (docs/conventions.md section 14, read by testbed.stack_info). Both
become a :class:`TargetEndpoints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testbed.stack_info import StackError, StackInfo, load_stack_info


class StackFileError(StackError):
    """The stack file does not describe the wanted target; says what to do."""


@dataclass(frozen=True)
class TargetEndpoints:
    """What the load engine needs to know about one target of the stack."""

    name: str
    lb_url: str
    service_url: str
    toxiproxy_url: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)
    llm_control_url: str | None = None
    memory_control_url: str | None = None
    webhook_control_url: str | None = None
    admin_token: str | None = None
    metrics_url: str | None = None
    log_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    lb_timeout_s: float | None = None
    app_timeout_s: float | None = None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _control(fake: Any) -> str | None:
    if fake is None:
        return None
    url = _get(fake, "control_url") or (
        f"{_get(fake, 'url')}/_control" if _get(fake, "url") else None
    )
    return str(url).rstrip("/") if url else None


def endpoints_from_stack(target: Any, name: str, log_dir: Path | None) -> TargetEndpoints:
    """Adapt a ``testbed.stack`` target (object or stack.json dict, docs/conventions.md §14)."""
    fakes = _get(target, "fakes", {}) or {}
    return TargetEndpoints(
        name=name,
        lb_url=str(_get(target, "lb_url")).rstrip("/"),
        service_url=str(_get(target, "service_url")).rstrip("/"),
        toxiproxy_url=_get(target, "toxiproxy_url"),
        proxies=dict(_get(target, "proxies", {}) or {}),
        llm_control_url=_control(_get(fakes, "llm")),
        memory_control_url=_control(_get(fakes, "memory")),
        webhook_control_url=_control(_get(fakes, "webhook")),
        admin_token=_get(target, "admin_token"),
        metrics_url=_get(target, "metrics_url"),
        log_dir=log_dir,
        env=dict(_get(target, "env", {}) or {}),
        lb_timeout_s=_get(target, "lb_timeout_s"),
        app_timeout_s=_get(target, "app_timeout_s"),
    )


def read_stack_file(path: Path) -> StackInfo:
    """``make up``'s stack.json (testbed.stack_info); :class:`StackError` says what to do."""
    try:
        return load_stack_info(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise StackFileError(
            f"{path} is not a stack file ({exc!r}): run make down && make up"
        ) from None


def target_from_stack_file(path: Path, name: str) -> TargetEndpoints:
    """The target ``name`` of a stack file; a wrong name lists the ones it has."""
    info = read_stack_file(path)
    if name not in info.targets:
        raise StackFileError(
            f"{path} has no target {name!r}; it has: {', '.join(info.targets) or 'none'}"
        )
    log_dir = Path(info.log_dir) if info.log_dir else None
    return endpoints_from_stack(info.targets[name], name, log_dir)


def target_for_host(info: StackInfo, host: str | None) -> str | None:
    """Which target of a stack has ``host`` as its LB (or service) URL, if any."""
    wanted = (host or "").rstrip("/")
    for name, target in info.targets.items():
        if wanted and wanted in (target.lb_url.rstrip("/"), target.service_url.rstrip("/")):
            return name
    return None


def fake_call(control_url: str | None, method: str, path: str, body: Any = None) -> Any:
    """One call of a fake's control API (None when the target has no such fake)."""
    if not control_url:
        return None
    response = httpx.request(method, f"{control_url}{path}", json=body, timeout=10.0)
    response.raise_for_status()
    return response.json() if response.content else None
