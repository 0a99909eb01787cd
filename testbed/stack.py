"""The stack the harness boots: per target, Caddy -> gunicorn -> Toxiproxy -> dependencies.

docs/conventions.md §14 is the contract. Per target: its own migrated database, its own fakes
(LLM, Memory API, webhook), its own Toxiproxy proxies ``llm``, ``memory``, ``postgres``
(and ``rabbitmq`` when AMQP_URL is set), the service under gunicorn with uvicorn workers
and Caddy in front. Everything is started in the caller's :class:`ProcessGroup`, so it
all stops with the group (also on error or Ctrl-C); a failure while booting raises a
:class:`StackError` that says what failed and what to do.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from testbed.caddy import caddy_binary, start_caddy
from testbed.net import LOOPBACK, NotReadyError, free_port, port_is_free
from testbed.postgres import PostgresUnavailableError, redact, with_database
from testbed.processes import MissingBinaryError, ProcessGroup
from testbed.rate_limit_store import (
    MEMORY,
    RateLimitStore,
    RedisUnavailableError,
    rate_limit_store,
)
from testbed.stack_config import StackConfig, build_service_env, timeouts, upstream_of, via_proxy
from testbed.stack_info import StackError, StackInfo
from testbed.stack_parts import (
    PROXIED_FAKES,
    check_shared_toxiproxy,
    postgres_server,
    service_process_name,
    start_target_fakes,
    start_target_service,
    target_database,
    toxiproxy_for,
)
from testbed.target import TargetInfo, configured_app_deadline_s

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_stack(group: ProcessGroup, config: StackConfig) -> StackInfo:
    """Boot every target of ``config`` in ``group``; see the module docstring.

    On failure the processes already started stay in ``group`` and stop with it; the
    raised :class:`StackError` says which part failed and what to do.
    """
    config.validate()
    try:
        caddy_binary()  # fail before anything starts
    except MissingBinaryError as exc:
        raise StackError(str(exc)) from exc
    amqp_url = os.environ.get("AMQP_URL", "") if config.amqp_url is None else config.amqp_url
    shared_toxiproxy = (
        os.environ.get("TOXIPROXY_URL", "")
        if config.toxiproxy_url is None
        else config.toxiproxy_url
    )
    if shared_toxiproxy:
        check_shared_toxiproxy(shared_toxiproxy)
    lb_timeout_s, app_timeout_s, gunicorn_timeout_s = timeouts(config.time_scale)
    db_kind, admin_url = postgres_server(group, config)
    try:  # one budget per client across the workers (Redis), else per worker (said)
        limits_store = (
            rate_limit_store(group, config.ready_timeout_s)
            if "refactored" in config.targets
            else RateLimitStore("memory", MEMORY)
        )
    except RedisUnavailableError as exc:
        raise StackError(f"rate limit store: {exc}") from exc
    databases: dict[str, str] = {}
    for target in config.targets:  # one at a time: alembic's context is process-global
        try:
            databases[target] = target_database(group, admin_url, target)
        except PostgresUnavailableError as exc:
            raise StackError(f"PostgreSQL ({target} database): {exc}") from exc
    # the targets boot side by side: most of a boot is waiting for imports in children
    with ThreadPoolExecutor(max_workers=len(config.targets)) as pool:
        futures = {
            target: pool.submit(
                _start_target,
                group,
                target,
                config,
                database_url=databases[target],
                amqp_url=amqp_url or None,
                limits_store=limits_store,
                shared_toxiproxy=shared_toxiproxy,
                timeouts=(lb_timeout_s, app_timeout_s, gunicorn_timeout_s),
            )
            for target in config.targets
        }
        try:
            wait(futures.values())
        except BaseException:  # Ctrl-C / SIGTERM: stop now, so the boot threads fail fast
            group.stop_all()
            raise
    for future in futures.values():
        future.result()  # the first failure, in target order
    targets = {target: future.result() for target, future in futures.items()}
    return StackInfo(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        supervisor_pid=os.getpid(),
        time_scale=config.time_scale,
        workers=config.workers,
        log_dir=str(config.log_dir or group.log_dir),
        database={"kind": db_kind, "admin_url": redact(admin_url)},
        amqp_url=redact(amqp_url) if amqp_url else None,
        targets=targets,
    )


def _start_target(
    group: ProcessGroup,
    target: str,
    config: StackConfig,
    *,
    database_url: str,
    amqp_url: str | None,
    shared_toxiproxy: str,
    limits_store: RateLimitStore,
    timeouts: tuple[float, float, int],
) -> TargetInfo:
    lb_timeout_s, app_timeout_s, gunicorn_timeout_s = timeouts
    ready = config.ready_timeout_s
    fakes = start_target_fakes(group, target, ready)

    toxiproxy = toxiproxy_for(group, target, config, shared_toxiproxy)
    upstreams = {kind: upstream_of(fakes[kind].url, 80) for kind in PROXIED_FAKES}
    upstreams["postgres"] = upstream_of(database_url, 5432)
    if amqp_url:
        upstreams["rabbitmq"] = upstream_of(amqp_url, 5672)
    proxies: dict[str, str] = {}
    listens: dict[str, str] = {}
    for logical, upstream in upstreams.items():
        proxies[logical], listens[logical] = toxiproxy.create_proxy(logical, upstream)
    if toxiproxy.prefix:  # a shared server outlives us: leave it as we found it
        names = list(proxies.values())
        group.on_stop(lambda: toxiproxy.delete_proxies(names))

    admin_token = secrets.token_urlsafe(24)
    env = build_service_env(
        target,
        database_url=via_proxy(database_url, listens["postgres"]),
        llm_url=f"http://{listens['llm']}",
        memory_url=f"http://{listens['memory']}",
        webhook_url=fakes["webhook"].url,
        amqp_url=via_proxy(amqp_url, listens["rabbitmq"]) if amqp_url else None,
        admin_token=admin_token,
        time_scale=config.time_scale,
        overrides=config.env_overrides.get(target),
        rate_limit=limits_store.service_env(target),
    )
    service_port = start_target_service(
        group, target, env, config.workers, app_timeout_s, None, ready
    )
    service_url = f"http://{LOOPBACK}:{service_port}"
    lb_port = config.lb_ports.get(target) or free_port()
    log_dir = config.log_dir or group.log_dir
    try:
        caddy = start_caddy(
            group,
            f"caddy-{target}",
            lb_port,
            f"{LOOPBACK}:{service_port}",
            lb_timeout_s,
            Path(log_dir) / "caddy",
            ready_timeout=ready,
        )
    except NotReadyError as exc:
        raise StackError(
            f"Caddy for {target} did not become healthy on port {lb_port}: {exc}"
        ) from exc
    return TargetInfo(
        lb_url=caddy.url,
        service_url=service_url,
        metrics_url=f"{service_url}/metrics" if target == "refactored" else None,
        database_url=database_url,
        admin_token=env.get("ADMIN_TOKEN", admin_token),
        toxiproxy_url=toxiproxy.url,
        toxiproxy_kind=toxiproxy.kind,
        proxies=proxies,
        fakes=fakes,
        lb_timeout_s=lb_timeout_s,
        app_timeout_s=app_timeout_s,
        gunicorn_timeout_s=gunicorn_timeout_s,
        env=env,
        name=target,
        app_deadline_s=configured_app_deadline_s(target, env),
    )


def fresh_target_database(group: ProcessGroup, info: StackInfo, target: str) -> StackInfo:
    """Give ``target`` a new, migrated database (dropped when the group stops); the service
    reaches it through the same ``postgres`` proxy once restarted (:func:`restart_service`).

    The ablation runs each variant on an empty database: otherwise friendships, degraded
    conversations awaiting a re-score and summaries pile up from one variant to the next and
    the later variants run a bigger nightly job than the first.
    """
    if target not in info.targets:
        raise StackError(f"{target} is not part of this stack ({', '.join(info.targets)})")
    current = info.targets[target]
    # the target's own URL carries the stack's admin credentials (its database was made so)
    url = target_database(group, current.database_url, target)
    name = urlsplit(url).path.lstrip("/")
    env = {**current.env, "DATABASE_URL": with_database(current.env["DATABASE_URL"], name)}
    info.targets[target] = replace(current, database_url=url, env=env)
    return info


def restart_service(
    group: ProcessGroup,
    info: StackInfo,
    target: str,
    env_overrides: Mapping[str, str] | None = None,
    ready_timeout: float = 90.0,
) -> StackInfo:
    """Restart ``target``'s gunicorn on the same port (Caddy keeps pointing at it).

    The new environment is the target's current env plus ``env_overrides``; ``info`` is
    updated in place (and returned) so ``info.targets[target].env`` tells what runs.
    """
    if target not in info.targets:
        raise StackError(f"{target} is not part of this stack ({', '.join(info.targets)})")
    current = info.targets[target]
    name = service_process_name(target)
    for process in [p for p in group.processes if p.name == name]:
        process.stop()
        group.processes.remove(process)
    port = urlsplit(current.service_url).port
    assert port is not None
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    env = {**current.env, **(env_overrides or {})}
    start_target_service(
        group, target, env, info.workers, current.app_timeout_s, port, ready_timeout
    )
    info.targets[target] = replace(current, name=target).with_env(env)
    return info


# the stack's API: start_stack(config) -> StackInfo, raising StackError
__all__ = [
    "REPO_ROOT",
    "StackConfig",
    "StackError",
    "StackInfo",
    "TargetInfo",
    "build_service_env",
    "fresh_target_database",
    "restart_service",
    "start_stack",
]
