"""TOXIPROXY_URL (one server for every target, as with docker compose) and AMQP_URL.

The bundled server stands in for a real one here: it speaks the same HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from testbed.processes import ProcessGroup
from testbed.stack import start_stack
from testbed.stack_config import StackConfig
from testbed.toxiproxy import start_toxiproxy

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


def test_a_toxiproxy_server_on_path_is_used_with_the_stack_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``toxiproxy-server`` on PATH wins over the bundled server and gets ``-seed`` (so a
    run replays its toxicity draws). The bundled server takes the same flags, so a shim
    stands in for the real binary."""
    import stat
    import sys

    from testbed.stack_parts import toxiproxy_for

    shim = tmp_path / "bin" / "toxiproxy-server"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m doubles.toxiproxy "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{shim.parent}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[3]))
    with ProcessGroup(tmp_path / "logs") as group:
        toxiproxy = toxiproxy_for(group, "legacy", StackConfig(targets=("legacy",), seed=7), "")
        assert toxiproxy.kind == "real"
        [process] = group.processes
        assert process.argv[0] == str(shim)
        assert process.argv[-2:] == ["-seed", "7"]
        assert httpx.get(f"{toxiproxy.url}/version", timeout=5).status_code == 200
