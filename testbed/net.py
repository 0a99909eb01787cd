"""Loopback networking helpers: free ports and readiness probes."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

LOOPBACK = "127.0.0.1"


class NotReadyError(RuntimeError):
    """A process did not become ready in time."""


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1.

    There is a small race between closing the probe socket and the real server
    binding it; callers start the server right away and treat a bind failure
    as "port in use" with a clear message.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise NotReadyError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """GET ``url`` and return its status code, or None when it cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def wait_for_http(
    url: str,
    timeout: float = 30.0,
    ok: tuple[int, ...] = (200,),
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers one of ``ok``; ``alive()`` returning False aborts early."""
    deadline = time.monotonic() + timeout
    last: int | None = None
    while time.monotonic() < deadline:
        last = http_status(url)
        if last in ok:
            return
        if alive is not None and not alive():
            raise NotReadyError(f"the process behind {url} exited before it was ready")
        time.sleep(0.1)
    raise NotReadyError(f"{url} not ready after {timeout:.0f}s (last status: {last})")
