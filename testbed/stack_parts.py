"""The parts of one target's stack, each started (in the caller's group) and checked:
its Toxiproxy with the target's proxies, its fakes, its service under gunicorn, the
PostgreSQL server and the target's database. A part that does not come up raises
:class:`testbed.stack_info.StackError` naming it and its log.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from testbed.fakes import KINDS, launch_fakes
from testbed.net import NotReadyError
from testbed.postgres import (
    EmbeddedPostgres,
    PostgresUnavailableError,
    admin_url_from_env,
    check_connection,
    create_database,
    drop_database,
)
from testbed.processes import ManagedProcess, ProcessGroup
from testbed.services import start_service
from testbed.stack_config import StackConfig
from testbed.stack_info import StackError
from testbed.target import FakeInfo
from testbed.toxiproxy import start_toxiproxy
from testbed.toxiproxy_admin import ToxiproxyAdmin

FAKE_KINDS = KINDS
PROXIED_FAKES = ("llm", "memory")  # the webhook is called directly (alerts are not a fault target)


# ---- Toxiproxy ---------------------------------------------------------------------------


@dataclass
class TargetToxiproxy:
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


def toxiproxy_for(
    group: ProcessGroup, target: str, config: StackConfig, shared_url: str
) -> TargetToxiproxy:
    """The target's Toxiproxy: the shared ``TOXIPROXY_URL`` (proxies named
    ``<target>_<name>``), else a server of its own (toxiproxy-server when on PATH)."""
    if shared_url:
        return TargetToxiproxy(shared_url.rstrip("/"), "real", f"{target}_")
    name = f"toxiproxy-{target}"
    try:
        server = start_toxiproxy(
            group, seed=config.seed, name=name, timeout=config.ready_timeout_s, real=True
        )
    except NotReadyError as exc:
        process = next(p for p in reversed(group.processes) if p.name == name)
        raise StackError(
            f"Toxiproxy ({name}) did not become healthy: {exc}\nFull log: {process.log_path}"
        ) from exc
    return TargetToxiproxy(server.url, server.kind, "")


def check_shared_toxiproxy(url: str) -> None:
    try:
        with ToxiproxyAdmin(url, timeout=5.0) as admin:
            admin.version()
    except httpx.HTTPError as exc:
        raise StackError(
            f"TOXIPROXY_URL={url} does not answer /version ({exc}): start Toxiproxy "
            "there or unset TOXIPROXY_URL to use the bundled server"
        ) from exc


# ---- processes ---------------------------------------------------------------------------


def wait_ready(process: ManagedProcess, url: str, what: str, timeout: float) -> None:
    try:
        process.wait_http(url, timeout=timeout)
    except NotReadyError as exc:
        raise StackError(
            f"{what} ({process.name}) did not become healthy: {exc}\nFull log: {process.log_path}"
        ) from exc


def start_target_fakes(group: ProcessGroup, target: str, timeout: float) -> dict[str, FakeInfo]:
    try:
        handles = launch_fakes(group, FAKE_KINDS, label=target, timeout=timeout)
    except NotReadyError as exc:
        raise StackError(
            f"a fake of {target} did not become healthy: {exc}\nLogs in {group.log_dir}"
        ) from exc
    return {kind: FakeInfo(h.base_url, h.control_url) for kind, h in handles.items()}


def service_process_name(target: str) -> str:
    # loadrun counts WORKER TIMEOUT lines in logs named *<target>*
    return f"{target}-gunicorn"


def start_target_service(
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
            name=service_process_name(target),
        )
    except NotReadyError as exc:
        raise StackError(
            f"{target} (gunicorn) did not become healthy: {exc}\n"
            f"Check its settings and the log in {group.log_dir}"
        ) from exc
    return handle.port


# ---- PostgreSQL ------------------------------------------------------------------------


def postgres_server(group: ProcessGroup, config: StackConfig) -> tuple[str, str]:
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


def target_database(group: ProcessGroup, admin_url: str, target: str) -> str:
    """A new database for ``target``, migrated to head, dropped when the group stops."""
    # alembic and the migrations load here, on the one path that migrates
    from migrations import upgrade_database

    name = f"stack_{target}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    group.on_stop(lambda: drop_database(admin_url, name))
    upgrade_database(url)
    return url
