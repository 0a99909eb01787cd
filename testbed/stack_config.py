"""What to boot (:class:`StackConfig`) and the pure pieces of a boot: the timeout ladder at
a scale and each service's environment (docs/conventions.md section 2).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from testbed.net import LOOPBACK, port_is_free
from testbed.settings import DEFAULT_TIME_SCALE
from testbed.stack_info import StackError
from testbed.targets import TARGETS, check_target
from testbed.timeouts import APP_DEADLINE_S, LB_TIMEOUT_S, ladder


@dataclass
class StackConfig:
    targets: tuple[str, ...] = TARGETS
    time_scale: float = DEFAULT_TIME_SCALE
    workers: int = 2
    env_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    seed: int = 0
    log_dir: Path | None = None  # default: the group's log_dir
    # None = from the environment (DATABASE_URL / AMQP_URL / TOXIPROXY_URL); "" = not used
    database_url: str | None = None
    amqp_url: str | None = None
    toxiproxy_url: str | None = None
    lb_ports: Mapping[str, int] = field(default_factory=dict)  # explicit LB ports per target
    ready_timeout_s: float = 90.0

    def validate(self) -> None:
        if not self.targets:
            raise StackError("no target given: choose legacy, refactored or both")
        for target in self.targets:
            check_target(target)
        if len(set(self.targets)) != len(self.targets):
            raise StackError(f"a target is listed twice: {self.targets}")
        if not self.time_scale > 0:
            raise StackError(f"time_scale must be > 0 (got {self.time_scale})")
        if self.workers < 1:
            raise StackError(f"workers must be >= 1 (got {self.workers})")
        unknown = set(self.env_overrides) - set(self.targets)
        if unknown:
            raise StackError(f"env_overrides for targets not started: {sorted(unknown)}")
        for target, port in self.lb_ports.items():
            if not port_is_free(port):
                raise StackError(
                    f"port {port} for the {target} load balancer is already in use: "
                    "choose another port or stop what listens there"
                )


def timeouts(time_scale: float) -> tuple[float, float, int]:
    """(load balancer, app deadline, gunicorn --timeout) at ``time_scale``: the LB outlasts
    the app deadline by at least 1 s at any scale (``testbed.timeouts.ladder``)."""
    rungs = ladder(time_scale, lb_timeout_s=LB_TIMEOUT_S, app_deadline_s=APP_DEADLINE_S)
    return rungs.lb_s, rungs.app_s, rungs.gunicorn_s


# ---- pure builders (unit-tested) ------------------------------------------------------


def secret_key() -> str:
    """A 48-character key, long enough for refactored's SECRET_KEY validation (>= 32)."""
    return secrets.token_urlsafe(36)


def via_proxy(url: str, listen: str) -> str:
    """``url`` with its host:port replaced by a proxy's ``listen`` (user, path kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{listen}" if userinfo else listen
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def upstream_of(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or LOOPBACK}:{parts.port or default_port}"


def build_service_env(
    target: str,
    *,
    database_url: str,
    llm_url: str,
    memory_url: str,
    webhook_url: str,
    amqp_url: str | None,
    admin_token: str,
    time_scale: float,
    key: str | None = None,
    overrides: Mapping[str, str] | None = None,
    rate_limit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The service's environment (docs/conventions.md §2); ``overrides`` win."""
    env = {
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": llm_url,
        "MEMORY_API_URL": memory_url,
        "ALERT_WEBHOOK_URL": webhook_url,
        "ADMIN_TOKEN": admin_token,
        "TIME_SCALE": f"{time_scale:g}",
        "NIGHTLY_SCHEDULER_ENABLED": "false",
        "ENV": "development",
    }
    if amqp_url:
        env["AMQP_URL"] = amqp_url
    if target == "refactored":
        env["SECRET_KEY"] = key or secret_key()
        # Caddy dials the service from loopback and replaces a client's X-Forwarded-For
        # with the address the client connected from: believed from there only
        env["TRUSTED_PROXIES"] = LOOPBACK
        env.update(rate_limit or {})  # RATE_LIMIT_STORAGE_URI, RATE_LIMIT_KEY_PREFIX
    env.update(overrides or {})
    return env
