"""A slow *link* to PostgreSQL (Toxiproxy latency): 503 + Retry-After before the deadline.

``statement_timeout`` is enforced by the server, so it never fires when the time is spent
on the network; only the client-side bounds (asyncpg ``command_timeout``, the unit-of-work
timeout) make the service answer the documented 503 instead of outliving the LB.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from testbed.processes import ProcessGroup
from testbed.toxiproxy import start_toxiproxy
from tests.integration.refactored.test_endpoints import conversation
from tests.integration.refactored.toxiproxy_helpers import ProxyControl

pytestmark = pytest.mark.integration

LINK_LATENCY_MS = 2000  # as the db_latency scenario at TIME_SCALE 0.1: 2x statement timeout


@pytest.fixture
def postgres_proxy(processes: ProcessGroup, database_url: str) -> ProxyControl:
    url = make_url(database_url)
    return ProxyControl(
        start_toxiproxy(processes), "postgres", f"{url.host or '127.0.0.1'}:{url.port or 5432}"
    )


async def test_slow_database_link_answers_503_retry_after_before_the_deadline(
    app_client: Any, database_url: str, postgres_proxy: ProxyControl
) -> None:
    proxied = make_url(database_url).set(host="127.0.0.1", port=postgres_proxy.port)
    # time_scale 0.1: deadline 5.5 s, reserve 0.5 s, DB call bound 1.5 s
    async with app_client(database_url=proxied.render_as_string(hide_password=False)) as client:
        warm = await client.post("/v1/conversations/end", json=conversation("warm"))
        assert warm.status_code == 200, warm.text  # a pooled connection exists before the fault
        postgres_proxy.add_toxic("latency", latency=LINK_LATENCY_MS)
        started = time.perf_counter()
        response = await client.post("/v1/conversations/end", json=conversation("slow"))
        elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "storage_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    # the bound is 1.5 s; without it every round trip costs 2 s and the 5.5 s deadline answers
    assert elapsed < 4.0, f"answered after {elapsed:.2f}s"
