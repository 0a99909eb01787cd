"""Put a Toxiproxy-compatible proxy (doubles.toxiproxy) between the service and a real backend."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from testbed.toxiproxy import ToxiproxyHandle


class ProxyControl:
    """The HTTP control API of one proxy: faults on, faults off.

    urllib rather than httpx: the app tests run under respx, which intercepts every httpx
    request of the process (the control calls are quick loopback calls from the test).
    """

    def __init__(self, toxiproxy: ToxiproxyHandle, name: str, upstream: str) -> None:
        self._base = toxiproxy.url
        self.name = name
        created = self._call("POST", "/proxies", {"name": name, "upstream": upstream})
        self.listen: str = created["listen"]  # 127.0.0.1:P
        self.port = int(self.listen.rpartition(":")[2])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # raises on 4xx/5xx
            payload = response.read()
        return json.loads(payload) if payload else None

    def add_toxic(self, kind: str, stream: str = "downstream", **attributes: Any) -> None:
        body = {"name": f"{kind}_{stream}", "type": kind, "stream": stream}
        self._call("POST", f"/proxies/{self.name}/toxics", {**body, "attributes": attributes})

    def remove_toxic(self, kind: str, stream: str = "downstream") -> None:
        self._call("DELETE", f"/proxies/{self.name}/toxics/{kind}_{stream}")

    def set_enabled(self, enabled: bool) -> None:
        self._call("POST", f"/proxies/{self.name}", {"enabled": enabled})
