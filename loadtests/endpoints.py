"""One target of the stack as the load engine sees it, from a stack object or stack.json.

``make load`` hands the runner the booted stack's target objects; ``locust -f
loadtests/locustfile.py --stack .stack/stack.json --target legacy`` reads the file
``make up`` wrote (docs/conventions.md section 14). Both become a :class:`TargetEndpoints`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class StackFileError(ValueError):
    """The stack file is missing or does not describe the wanted target; says what to do."""


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
    """Adapt a ``testbed.stack`` target (object or stack.json dict, conventions §14)."""
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


def read_stack_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackFileError(f"no stack file {path}: run make up first (it writes it)") from None
    except ValueError as exc:
        raise StackFileError(f"{path} is not JSON ({exc}): run make down && make up") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        raise StackFileError(f"{path} has no 'targets': run make down && make up")
    return data


def target_from_stack_file(path: Path, name: str) -> TargetEndpoints:
    """The target ``name`` of a stack file; a wrong name lists the ones it has."""
    data = read_stack_file(path)
    if name not in data["targets"]:
        raise StackFileError(
            f"{path} has no target {name!r}; it has: {', '.join(data['targets']) or 'none'}"
        )
    log_dir = Path(data["log_dir"]) if data.get("log_dir") else None
    return endpoints_from_stack(data["targets"][name], name, log_dir)


def target_for_host(data: Mapping[str, Any], host: str | None) -> str | None:
    """Which target of a stack file has ``host`` as its LB (or service) URL, if any."""
    wanted = (host or "").rstrip("/")
    for name, target in data["targets"].items():
        if wanted and wanted in (
            str(target.get("lb_url", "")).rstrip("/"),
            str(target.get("service_url", "")).rstrip("/"),
        ):
            return str(name)
    return None


def fake_call(control_url: str | None, method: str, path: str, body: Any = None) -> Any:
    """One call of a fake's control API (None when the target has no such fake)."""
    if not control_url:
        return None
    response = httpx.request(method, f"{control_url}{path}", json=body, timeout=10.0)
    response.raise_for_status()
    return response.json() if response.content else None
