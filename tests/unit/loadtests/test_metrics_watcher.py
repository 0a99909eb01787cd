"""The /metrics watcher of a load run: one HTTP client for its whole life."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from loadtests.observe import MetricsWatcher

pytestmark = pytest.mark.unit

LAGS = [0.01, 0.25, 0.05]  # the lag each successive scrape reads


class _MetricsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service answers
    served = 0

    def do_GET(self) -> None:
        lag = LAGS[min(type(self).served, len(LAGS) - 1)]
        type(self).served += 1
        body = (
            "# TYPE event_loop_lag_max_seconds gauge\n"
            f'event_loop_lag_max_seconds{{pid="1"}} {lag}\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def metrics_url() -> Iterator[str]:
    _MetricsHandler.served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MetricsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Client]:
    """Every httpx.Client built while the test runs (httpx.get builds one per call too)."""
    built: list[httpx.Client] = []
    original_init = httpx.Client.__init__

    def counting_init(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", counting_init)
    return built


def test_the_watcher_scrapes_with_one_client_and_closes_it_when_finished(
    metrics_url: str, clients: list[httpx.Client]
) -> None:
    watcher = MetricsWatcher(metrics_url)
    watcher.scrape()
    watcher.scrape()
    watcher.start()
    watcher.finish()  # stops the thread, then scrapes a last time

    assert _MetricsHandler.served == 3
    assert watcher.lag_max == pytest.approx(0.25)  # the max over every scrape
    assert len(clients) == 1, "one client for every scrape, not one per scrape"
    assert clients[0].is_closed


def test_a_watcher_without_url_builds_no_client(clients: list[httpx.Client]) -> None:
    watcher = MetricsWatcher(None)  # what a Locust run without a stack passes on
    watcher.scrape()
    watcher.start()
    watcher.finish()
    assert clients == []
    assert watcher.lag_max is None
    assert watcher.last == {}
