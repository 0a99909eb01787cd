"""The stack the harness boots: per target, Caddy -> gunicorn -> Toxiproxy -> dependencies.

conventions §14 is the contract. Per target: its own migrated database, its own fakes
(LLM, Memory API, webhook), its own Toxiproxy proxies ``llm``, ``memory``, ``postgres``
(and ``rabbitmq`` when AMQP_URL is set), the service under gunicorn with uvicorn workers
and Caddy in front. Everything is started in the caller's :class:`ProcessGroup`, so it
all stops with the group (also on error or Ctrl-C); a failure while booting raises a
:class:`StackError` that says what failed and what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from testbed.caddy import LB_TIMEOUT_S, caddy_binary, start_caddy
from testbed.fakes import KINDS, launch_fakes
from testbed.ledger import private_dir
from testbed.net import LOOPBACK, NotReadyError, free_port, port_is_free
from testbed.postgres import (
    EmbeddedPostgres,
    PostgresUnavailableError,
    admin_url_from_env,
    check_connection,
    create_database,
    drop_database,
    redact,
    with_database,
)
from testbed.processes import ManagedProcess, MissingBinaryError, ProcessGroup
from testbed.rate_limit_store import (
    MEMORY,
    RateLimitStore,
    RedisUnavailableError,
    rate_limit_store,
)
from testbed.services import APP_FACTORIES, check_target, start_service
from testbed.target import FakeInfo, TargetInfo, configured_app_deadline_s
from testbed.timeouts import APP_DEADLINE_S, ladder
from testbed.toxiproxy_admin import ToxiproxyAdmin

SCHEMA_VERSION = 2  # 2: each target records its name and app_deadline_s
APP_TIMEOUT_S = APP_DEADLINE_S  # the handbook's app request deadline at TIME_SCALE=1
STACK_DIR = Path(".stack")
STACK_JSON = STACK_DIR / "stack.json"
FAKE_KINDS = KINDS
PROXIED_FAKES = ("llm", "memory")  # the webhook is called directly (alerts are not a fault target)
REPO_ROOT = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    """The stack could not start; the message names the part and what to do."""


class NoStackError(StackError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no stack running: run make up (no {path})")


# ---- the data (conventions §14) ---------------------------------------------------------


@dataclass
class StackInfo:
    started_at: str
    supervisor_pid: int
    time_scale: float
    workers: int
    log_dir: str
    database: dict[str, str]
    amqp_url: str | None
    targets: dict[str, TargetInfo]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        ordered = {"schema_version": data.pop("schema_version"), **data}
        return json.dumps(ordered, indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackInfo:
        data = json.loads(text)
        if data.get("schema_version") != SCHEMA_VERSION:
            raise StackError(
                f"stack.json has schema_version {data.get('schema_version')!r}, expected "
                f"{SCHEMA_VERSION}: run make down && make up"
            )
        data["targets"] = {k: TargetInfo.from_dict(v, k) for k, v in data["targets"].items()}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path = STACK_JSON) -> None:
        """Atomically, mode 0600 in a 0700 directory: it holds the admin tokens."""
        private_dir(path.parent)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # a leftover could carry wider permissions
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.to_json())
        tmp.replace(path)  # readers never see half a file


def load_stack_info(path: Path = STACK_JSON) -> StackInfo:
    """The running stack's info, or :class:`NoStackError` ("no stack running: run make up")."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NoStackError(path) from None
    return StackInfo.from_json(text)


@dataclass
class StackConfig:
    targets: tuple[str, ...] = ("legacy", "refactored")
    time_scale: float = 0.1
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
    rungs = ladder(time_scale, lb_timeout_s=LB_TIMEOUT_S, app_deadline_s=APP_TIMEOUT_S)
    return rungs.lb_s, rungs.app_s, rungs.gunicorn_s


# ---- pure builders (unit-tested) --------------------------------------------------------


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
    """The service's environment (conventions §2); ``overrides`` win."""
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


# ---- Toxiproxy ---------------------------------------------------------------------------


@dataclass
class _Toxiproxy:
    url: str
    kind: str
    prefix: str  # "" with a server of our own, "<target>_" on a shared TOXIPROXY_URL

    def create_proxy(self, logical: str, upstream: str) -> tuple[str, str]:
        """Create (or replace) proxy ``logical``; return (actual name, listen host:port)."""
        name = f"{self.prefix}{logical}"
        try:
            with ToxiproxyAdmin(self.url) as admin:
                return name, admin.create_proxy(name, upstream)
        except httpx.HTTPError as exc:
            raise StackError(f"Toxiproxy at {self.url} refused proxy {name!r}: {exc}") from exc

    def delete_proxies(self, names: list[str]) -> None:
        with ToxiproxyAdmin(self.url, timeout=5.0) as admin:
            for name in names:
                # the server may be gone already: then there is nothing left to clean
                with contextlib.suppress(httpx.HTTPError):
                    admin.delete_proxy(name)


def _toxiproxy_for(
    group: ProcessGroup, target: str, config: StackConfig, shared_url: str
) -> _Toxiproxy:
    if shared_url:
        return _Toxiproxy(shared_url.rstrip("/"), "real", f"{target}_")
    port = free_port()
    real = shutil.which("toxiproxy-server")
    name = f"toxiproxy-{target}"
    if real:
        argv = [real, "-host", LOOPBACK, "-port", str(port), "-seed", str(config.seed)]
        process = group.start(name, argv)
        kind = "real"
    else:
        argv = [sys.executable, "-m", "doubles.toxiproxy", "--host", LOOPBACK]
        argv += ["--port", str(port), "--seed", str(config.seed)]
        process = group.start(name, argv, cwd=REPO_ROOT)
        kind = "embedded"
    url = f"http://{LOOPBACK}:{port}"
    _wait_ready(process, f"{url}/version", "Toxiproxy", config.ready_timeout_s)
    return _Toxiproxy(url, kind, "")


def _check_shared_toxiproxy(url: str) -> None:
    try:
        httpx.get(f"{url.rstrip('/')}/version", timeout=5.0).raise_for_status()
    except httpx.HTTPError as exc:
        raise StackError(
            f"TOXIPROXY_URL={url} does not answer /version ({exc}): start Toxiproxy "
            "there or unset TOXIPROXY_URL to use the bundled server"
        ) from exc


# ---- processes ---------------------------------------------------------------------------


def _wait_ready(process: ManagedProcess, url: str, what: str, timeout: float) -> None:
    try:
        process.wait_http(url, timeout=timeout)
    except NotReadyError as exc:
        raise StackError(
            f"{what} ({process.name}) did not become healthy: {exc}\nFull log: {process.log_path}"
        ) from exc


def _start_fakes(group: ProcessGroup, target: str, timeout: float) -> dict[str, FakeInfo]:
    try:
        handles = launch_fakes(group, FAKE_KINDS, label=target, timeout=timeout)
    except NotReadyError as exc:
        raise StackError(
            f"a fake of {target} did not become healthy: {exc}\nLogs in {group.log_dir}"
        ) from exc
    return {kind: FakeInfo(h.base_url, h.control_url) for kind, h in handles.items()}


def _service_name(target: str) -> str:
    # loadrun counts WORKER TIMEOUT lines in logs named *<target>*
    return f"{target}-gunicorn"


def _start_target_service(
    group: ProcessGroup,
    target: str,
    env: Mapping[str, str],
    workers: int,
    app_timeout_s: float,
    port: int | None,
    ready_timeout: float,
) -> int:
    try:
        handle = start_service(
            group,
            target,
            env,
            workers=workers,
            timeout_s=app_timeout_s,
            port=port,
            ready_timeout=ready_timeout,
            name=_service_name(target),
        )
    except NotReadyError as exc:
        raise StackError(
            f"{target} (gunicorn) did not become healthy: {exc}\n"
            f"Check its settings and the log in {group.log_dir}"
        ) from exc
    return handle.port


# ---- the stack ---------------------------------------------------------------------------


def _postgres(group: ProcessGroup, config: StackConfig) -> tuple[str, str]:
    """(kind, admin URL) of the PostgreSQL server the targets' databases live on."""
    url = admin_url_from_env() if config.database_url is None else config.database_url
    try:
        if url:
            check_connection(url)
            return "external", url
        return "embedded", EmbeddedPostgres(group).start(timeout=config.ready_timeout_s)
    except PostgresUnavailableError as exc:
        raise StackError(f"PostgreSQL: {exc}") from exc
    except (NotReadyError, OSError) as exc:
        raise StackError(
            f"the embedded PostgreSQL did not start: {exc}\n"
            "Set DATABASE_URL to a running server (admin URL) instead."
        ) from exc


def _target_database(group: ProcessGroup, admin_url: str, target: str) -> str:
    from migrations import upgrade_database

    name = f"stack_{target}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    group.on_stop(lambda: drop_database(admin_url, name))
    upgrade_database(url)
    return url


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
        _check_shared_toxiproxy(shared_toxiproxy)
    lb_timeout_s, app_timeout_s, gunicorn_timeout_s = timeouts(config.time_scale)
    db_kind, admin_url = _postgres(group, config)
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
            databases[target] = _target_database(group, admin_url, target)
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
    fakes = _start_fakes(group, target, ready)

    toxiproxy = _toxiproxy_for(group, target, config, shared_toxiproxy)
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
    service_port = _start_target_service(
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
    url = _target_database(group, current.database_url, target)
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
    name = _service_name(target)
    for process in [p for p in group.processes if p.name == name]:
        process.stop()
        group.processes.remove(process)
    port = urlsplit(current.service_url).port
    assert port is not None
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    env = {**current.env, **(env_overrides or {})}
    _start_target_service(
        group, target, env, info.workers, current.app_timeout_s, port, ready_timeout
    )
    info.targets[target] = replace(current, name=target).with_env(env)
    return info


__all__ = [
    "APP_FACTORIES",
    "FakeInfo",
    "NoStackError",
    "StackConfig",
    "StackError",
    "StackInfo",
    "TargetInfo",
    "build_service_env",
    "fresh_target_database",
    "load_stack_info",
    "restart_service",
    "start_stack",
]
