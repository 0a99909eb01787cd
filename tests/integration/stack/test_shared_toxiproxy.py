"""TOXIPROXY_URL (one server for every target, as with docker compose) and AMQP_URL.

The bundled server stands in for a real one here: it speaks the same HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from chaos.toxiproxy.testing import start_toxiproxy
from harness.processes import ProcessGroup
from harness.stack import StackConfig, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_shared_toxiproxy_gets_prefixed_proxies_and_is_left_clean(
    pg_admin_url: str, amqp_url: str, tmp_path: Path
) -> None:
    with ProcessGroup(tmp_path / "shared") as outer:
        shared = start_toxiproxy(outer, name="shared-toxiproxy")
        with ProcessGroup(tmp_path / "stack") as group:
            info = start_stack(
                group,
                StackConfig(
                    targets=("legacy",),
                    workers=1,
                    database_url=pg_admin_url,
                    amqp_url=amqp_url,
                    toxiproxy_url=shared.url,
                ),
            )
            target = info.targets["legacy"]
            assert target.toxiproxy_url == shared.url and target.toxiproxy_kind == "real"
            assert target.proxies == {
                p: f"legacy_{p}" for p in ("llm", "memory", "postgres", "rabbitmq")
            }
            proxies = httpx.get(f"{shared.url}/proxies", timeout=10).json()
            assert set(proxies) == set(target.proxies.values())
            # the service's AMQP_URL goes through the rabbitmq proxy, credentials kept
            amqp = urlsplit(target.env["AMQP_URL"])
            listen = proxies["legacy_rabbitmq"]["listen"]
            assert f"{amqp.hostname}:{amqp.port}" == listen
            assert amqp.username == urlsplit(amqp_url).username
            assert httpx.get(f"{target.lb_url}/health/ready", timeout=10).status_code == 200
        # the stack stopped; the shared server runs on, without our proxies
        assert httpx.get(f"{shared.url}/proxies", timeout=10).json() == {}
