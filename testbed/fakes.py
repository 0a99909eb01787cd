"""The fakes' control API (docs/conventions.md section 8) and their start-up: one of each.

```python
handles = launch_fakes(group, label="refactored")       # all three at once, then wait
handles["llm"].control.set_faults(error={"status": 429, "mode": "all", "retry_after_s": 0.1})
handles["llm"].control.stats()["responses_by_status"]
```

:class:`FakeControl` (blocking) and :class:`AsyncFakeControl` (asyncio engines) send the
same calls; both take a fake's base URL or its control URL (``.../_control``), so a
``testbed.target.FakeInfo`` works whichever it hands over. A refused call raises
:class:`FakeControlError`, an ``httpx.HTTPStatusError`` (and a ``ValueError``) that
quotes the fake's answer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from testbed.net import LOOPBACK, free_port
from testbed.processes import ManagedProcess, ProcessGroup

FakeKind = Literal["llm", "memory", "webhook"]
KINDS: tuple[FakeKind, ...] = ("llm", "memory", "webhook")
CONTROL = "/_control"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class FakeControlError(httpx.HTTPStatusError, ValueError):
    """A fake refused a control call (bad fault config, ``cards`` on a fake with none)."""


def base_url_of(url: str) -> str:
    """A fake's base URL from its base or control URL."""
    url = url.rstrip("/")
    return url.removesuffix(CONTROL)


def _faults_body(faults: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    if faults is not None and fields:
        raise TypeError("pass the faults either as one dict or as keyword fields, not both")
    return dict(faults if faults is not None else fields)


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise FakeControlError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text}",
            request=response.request,
            response=response,
        )
    return response.json()


class FakeControl:
    """Blocking client of one fake's control API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url_of(url)
        self._control = f"{self.base_url}{CONTROL}"
        self._client = httpx.Client(timeout=timeout)

    def set_faults(self, faults: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Replace the active faults; returns them as the fake echoes them back."""
        body = _faults_body(faults, fields)
        return dict(_checked(self._client.put(f"{self._control}/faults", json=body)))

    def clear_faults(self) -> dict[str, Any]:
        return dict(_checked(self._client.delete(f"{self._control}/faults")))

    def faults(self) -> dict[str, Any]:
        return dict(_checked(self._client.get(f"{self._control}/faults")))

    def stats(self) -> dict[str, Any]:
        return dict(_checked(self._client.get(f"{self._control}/stats")))

    def reset(self) -> None:
        _checked(self._client.post(f"{self._control}/reset"))

    def cards(self) -> list[dict[str, Any]]:
        """The cards a fake webhook received (404 on the other fakes)."""
        return list(_checked(self._client.get(f"{self._control}/cards"))["cards"])

    def close(self) -> None:
        self._client.close()


class AsyncFakeControl:
    """Async twin of :class:`FakeControl`; pass ``client`` to share a caller's pool (the
    caller closes it then)."""

    def __init__(
        self, url: str, timeout: float = 10.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url_of(url)
        self._control = f"{self.base_url}{CONTROL}"
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def set_faults(
        self, faults: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = _faults_body(faults, fields)
        return dict(_checked(await self._client.put(f"{self._control}/faults", json=body)))

    async def clear_faults(self) -> dict[str, Any]:
        return dict(_checked(await self._client.delete(f"{self._control}/faults")))

    async def faults(self) -> dict[str, Any]:
        return dict(_checked(await self._client.get(f"{self._control}/faults")))

    async def stats(self) -> dict[str, Any]:
        return dict(_checked(await self._client.get(f"{self._control}/stats")))

    async def reset(self) -> None:
        _checked(await self._client.post(f"{self._control}/reset"))

    async def cards(self) -> list[dict[str, Any]]:
        return list(_checked(await self._client.get(f"{self._control}/cards"))["cards"])

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass
class FakeHandle:
    kind: FakeKind
    base_url: str
    control: FakeControl
    process: ManagedProcess

    @property
    def control_url(self) -> str:
        return f"{self.base_url}{CONTROL}"


def fake_argv(kind: FakeKind, port: int, host: str = LOOPBACK) -> list[str]:
    return [sys.executable, "-m", f"doubles.fakes.{kind}", "--host", host, "--port", str(port)]


def launch_fakes(
    group: ProcessGroup,
    kinds: Iterable[FakeKind] = KINDS,
    *,
    label: str | None = None,
    timeout: float = 30.0,
) -> dict[FakeKind, FakeHandle]:
    """Start the fakes ``kinds`` as real processes in ``group``, all at once (each takes a
    second or two to import), then wait for each ``/health``. Processes are named
    ``fake-<kind>-<label>`` (``label`` defaults to the port)."""
    launched: dict[FakeKind, tuple[ManagedProcess, str]] = {}
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown fake {kind!r}: expected one of {', '.join(KINDS)}")
        port = free_port()
        name = f"fake-{kind}-{label or port}"
        process = group.start(name, fake_argv(kind, port), cwd=_REPO_ROOT)
        launched[kind] = (process, f"http://{LOOPBACK}:{port}")
    handles: dict[FakeKind, FakeHandle] = {}
    for kind, (process, base_url) in launched.items():
        process.wait_http(f"{base_url}/health", timeout=timeout)
        control = FakeControl(base_url)
        group.on_stop(control.close)
        handles[kind] = FakeHandle(kind, base_url, control, process)
    return handles


def start_fake(group: ProcessGroup, kind: FakeKind, timeout: float = 30.0) -> FakeHandle:
    """Start one fake (:func:`launch_fakes` of one kind)."""
    return launch_fakes(group, (kind,), timeout=timeout)[kind]
