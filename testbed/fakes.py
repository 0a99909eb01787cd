"""Drive the fakes from tests and runners: control clients and ``start_fake``.

```python
handle = start_fake(group, "llm")
handle.control.set_faults(error={"status": 429, "mode": "all", "retry_after_s": 0.1})
handle.control.stats()["responses_by_status"]
```
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from testbed.net import LOOPBACK, free_port
from testbed.processes import ManagedProcess, ProcessGroup

FakeKind = Literal["llm", "memory", "webhook"]
KINDS: tuple[FakeKind, ...] = ("llm", "memory", "webhook")
_REPO_ROOT = Path(__file__).resolve().parents[1]


def _faults_body(faults: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    if faults is not None and fields:
        raise TypeError("pass the faults either as one dict or as keyword fields, not both")
    return dict(faults if faults is not None else fields)


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ValueError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text}"
        )
    return response.json()


class FakeControl:
    """Sync client of a fake's control API (conventions §8)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def set_faults(self, faults: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Replace the active faults; returns them as the fake echoes them back."""
        return _checked(self._client.put("/_control/faults", json=_faults_body(faults, fields)))

    def clear_faults(self) -> dict[str, Any]:
        return _checked(self._client.delete("/_control/faults"))

    def faults(self) -> dict[str, Any]:
        return _checked(self._client.get("/_control/faults"))

    def stats(self) -> dict[str, Any]:
        return _checked(self._client.get("/_control/stats"))

    def reset(self) -> None:
        _checked(self._client.post("/_control/reset"))

    def cards(self) -> list[dict[str, Any]]:
        """The cards a fake webhook received (404 on the other fakes)."""
        return list(_checked(self._client.get("/_control/cards"))["cards"])

    def close(self) -> None:
        self._client.close()


class AsyncFakeControl:
    """Async twin of :class:`FakeControl` for asyncio runners."""

    def __init__(
        self, base_url: str, timeout: float = 10.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def set_faults(
        self, faults: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = _faults_body(faults, fields)
        return _checked(await self._client.put("/_control/faults", json=body))

    async def clear_faults(self) -> dict[str, Any]:
        return _checked(await self._client.delete("/_control/faults"))

    async def faults(self) -> dict[str, Any]:
        return _checked(await self._client.get("/_control/faults"))

    async def stats(self) -> dict[str, Any]:
        return _checked(await self._client.get("/_control/stats"))

    async def reset(self) -> None:
        _checked(await self._client.post("/_control/reset"))

    async def cards(self) -> list[dict[str, Any]]:
        return list(_checked(await self._client.get("/_control/cards"))["cards"])

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass
class FakeHandle:
    kind: FakeKind
    base_url: str
    control: FakeControl
    process: ManagedProcess


def fake_argv(kind: FakeKind, port: int, host: str = LOOPBACK) -> list[str]:
    return [sys.executable, "-m", f"doubles.fakes.{kind}", "--host", host, "--port", str(port)]


def start_fake(
    group: ProcessGroup, kind: FakeKind, port: int | None = None, timeout: float = 30.0
) -> FakeHandle:
    """Start the fake ``kind`` as a real process in ``group`` and wait for its ``/health``."""
    if kind not in KINDS:
        raise ValueError(f"unknown fake {kind!r}: expected one of {', '.join(KINDS)}")
    port = port or free_port()
    process = group.start(f"fake-{kind}-{port}", fake_argv(kind, port), cwd=_REPO_ROOT)
    base_url = f"http://{LOOPBACK}:{port}"
    process.wait_http(f"{base_url}/health", timeout=timeout)
    control = FakeControl(base_url)
    group.on_stop(control.close)
    return FakeHandle(kind, base_url, control, process)
