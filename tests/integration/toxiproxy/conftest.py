"""A Toxiproxy-compatible server (one per module) and in-process TCP upstreams to proxy to."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from testbed.processes import ProcessGroup
from testbed.toxiproxy import ToxiproxyHandle, start_toxiproxy


@dataclass(frozen=True)
class Upstreams:
    echo: str  # echoes every byte back
    blob: str  # reads "N\n", answers N bytes of b"x", then closes


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _blob(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ValueError):
        size = int((await reader.readline()).strip())
        block = b"x" * 65536
        while size > 0:
            writer.write(block[: min(size, len(block))])
            size -= min(size, len(block))
            await writer.drain()
    writer.close()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    loop = asyncio.new_event_loop()
    servers = [
        loop.run_until_complete(asyncio.start_server(handler, "127.0.0.1", 0))
        for handler in (_echo, _blob)
    ]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    echo, blob = (f"127.0.0.1:{s.sockets[0].getsockname()[1]}" for s in servers)
    yield Upstreams(echo, blob)
    for server in servers:
        loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture(scope="module")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyHandle]:
    with ProcessGroup(tmp_path_factory.mktemp("toxiproxy-logs")) as group:
        yield start_toxiproxy(group, seed=42)


@pytest.fixture
def api(toxiproxy: ToxiproxyHandle) -> Iterator[httpx.Client]:
    """Raw HTTP client; every proxy is deleted after the test."""
    with httpx.Client(base_url=toxiproxy.url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture
def make_proxy(api: httpx.Client) -> Callable[[str], tuple[str, int]]:
    """Create a proxy to ``upstream`` on a free port; returns (name, listen port)."""

    def _make(upstream: str) -> tuple[str, int]:
        name = f"p_{uuid.uuid4().hex[:8]}"
        response = api.post("/proxies", json={"name": name, "upstream": upstream})
        assert response.status_code == 201, response.text
        return name, int(response.json()["listen"].rsplit(":", 1)[1])

    return _make


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_until_closed(sock: socket.socket) -> tuple[bytes, int]:
    """Read to EOF; returns (data, number of recv calls that returned data)."""
    data, reads = b"", 0
    while chunk := sock.recv(65536):
        data += chunk
        reads += 1
    return data, reads


def round_trip(port: int, payload: bytes = b"ping") -> float:
    """Seconds for one echo round trip through a fresh connection."""
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        return time.monotonic() - started
