"""The probe's session: the fakes and apps it started, a client per check (each from its own
source address, so each has its own rate-limit budget) and the fakes' control API
(docs/conventions.md §8)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.evidence.base import EvidenceError, GateContext


@dataclass
class App:
    name: str
    base_url: str
    pid: int
    out: Path
    facts: dict[str, Any]

    async def spans(self) -> list[dict[str, Any]]:
        """Every span the app ended so far (the child writes them on SIGHUP)."""
        path = self.out / "spans.json"
        seen = path.stat().st_mtime_ns if path.exists() else None
        os.kill(self.pid, signal.SIGHUP)
        for _ in range(100):
            if path.exists() and path.stat().st_mtime_ns != seen:
                return list(json.loads(path.read_text())["spans"])
            await asyncio.sleep(0.02)
        raise EvidenceError("the app did not write its spans on SIGHUP")

    def blocking(self) -> list[dict[str, Any]]:
        path = self.out / "blocking.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Session:
    context: GateContext
    fakes: dict[str, str] = field(default_factory=dict)  # llm, memory, llm_tls -> base URL
    apps: dict[str, App] = field(default_factory=dict)  # main, untrusted, trusted
    app_errors: dict[str, str] = field(default_factory=dict)
    ca_file: Path = Path()
    # check -> the loopback address it speaks from: its own rate-limit budget
    sources: dict[str, str] = field(default_factory=dict)

    def client(self, check: str, timeout: float = 10.0) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=self.sources[check])
        return httpx.AsyncClient(transport=transport, timeout=timeout)

    def control(self, fake: str) -> httpx.AsyncClient:
        verify: Any = True
        if fake == "llm_tls":
            verify = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.AsyncClient(base_url=self.fakes[fake], timeout=10.0, verify=verify)

    def app(self, name: str = "main") -> App:
        if name not in self.apps:
            raise EvidenceError(
                f"the target's app ({name}) did not start: {self.app_errors.get(name, '?')}"
            )
        return self.apps[name]

    async def stats(self, fake: str) -> dict[str, Any]:
        async with self.control(fake) as c:
            return dict((await c.get("/_control/stats")).json())

    async def set_faults(self, fake: str, faults: dict[str, Any] | None) -> None:
        """Set the fake's faults; None clears them (and releases whatever hangs)."""
        async with self.control(fake) as c:
            if faults is None:
                (await c.delete("/_control/faults")).raise_for_status()
            else:
                (await c.put("/_control/faults", json=faults)).raise_for_status()

    async def reset(self, fake: str) -> None:
        async with self.control(fake) as c:
            (await c.post("/_control/reset")).raise_for_status()
