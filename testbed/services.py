"""Run legacy or refactored the way production does: gunicorn with uvicorn workers."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testbed.net import LOOPBACK, free_port
from testbed.processes import ManagedProcess, ProcessGroup
from testbed.targets import TARGETS, UnknownTargetError, check_target
from testbed.timeouts import APP_DEADLINE_S, gunicorn_timeout

APP_FACTORIES = {
    "legacy": "legacy.main:create_app()",
    "refactored": "refactored.main:create_app()",
}
# gunicorn's own lines (master, access log, a worker's failed boot and its traceback) in the
# target's scrubbing JSON log format; legacy keeps gunicorn's plain text
LOGGER_CLASSES = {
    "refactored": "refactored.infrastructure.observability.gunicorn_logging.JsonGunicornLogger",
}


@dataclass(frozen=True)
class ServiceHandle:
    target: str
    port: int
    process: ManagedProcess
    metrics_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def _supports_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


def gunicorn_argv(target: str, port: int, workers: int, timeout_s: float) -> list[str]:
    # gunicorn >= 27 opens a control socket at one fixed path under $HOME; several stacks
    # side by side would take it from each other, and the harness never uses it
    no_control_socket = ["--no-control-socket"] if _supports_control_socket() else []
    return [
        sys.executable,
        "-m",
        "gunicorn",
        APP_FACTORIES[check_target(target)],
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        str(workers),
        "--timeout",
        str(gunicorn_timeout(timeout_s)),
        "--graceful-timeout",
        "5",
        "--bind",
        f"{LOOPBACK}:{port}",
        # uvicorn must not replace the TCP peer with an X-Forwarded-For address (its
        # proxy-headers middleware trusts 127.0.0.1 by default and loses the peer):
        # refactored applies its own TRUSTED_PROXIES rule to the real peer
        "--forwarded-allow-ips",
        "",
        "--log-level",
        "info",
        *(["--logger-class", LOGGER_CLASSES[target]] if target in LOGGER_CLASSES else []),
        *no_control_socket,
    ]


def start_service(
    group: ProcessGroup,
    target: str,
    env: Mapping[str, str],
    *,
    workers: int = 1,
    timeout_s: float = APP_DEADLINE_S,
    port: int | None = None,
    ready_timeout: float = 60.0,
    name: str | None = None,
) -> ServiceHandle:
    """Start ``target`` under gunicorn on 127.0.0.1 and wait until ``/health`` answers 200.

    ``env`` is added to this process's environment (DATABASE_URL, LLM_BASE_URL, ...).
    A fresh PROMETHEUS_MULTIPROC_DIR is given to every start, so metrics from a
    previous run never leak into this one.
    """
    port = port or free_port()
    metrics_dir = group.temp_dir(f"ctxh-metrics-{target}-", "Prometheus multiprocess dir")
    process = group.start(
        name or f"{target}-{port}",
        gunicorn_argv(target, port, workers, timeout_s),
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **env},
    )
    process.wait_http(f"http://{LOOPBACK}:{port}/health", timeout=ready_timeout)
    return ServiceHandle(target=target, port=port, process=process, metrics_dir=metrics_dir)


__all__ = ["APP_FACTORIES", "TARGETS", "UnknownTargetError", "check_target", "start_service"]
