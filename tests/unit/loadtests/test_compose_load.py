"""docker-compose.yml's Locust master and workers: the workers' samples reach the master
over Locust's connection only (loadtests.distributed), never through shared files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
# Locust's default --master-bind-port / --master-port (importing locust here would
# monkey-patch after ssl was imported)
LOCUST_MASTER_PORT = 5557


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"])


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_workers_reach_the_master_on_locust_s_port(services: dict[str, Any]) -> None:
    master, worker = services["locust-master"], services["locust-worker"]
    assert "--master" in master["command"] and "--worker" in worker["command"]
    assert _option(worker["command"], "--master-host") == "locust-master"
    assert _option(master["command"], "-f") == _option(worker["command"], "-f")
    locust_port = LOCUST_MASTER_PORT  # neither side overrides it
    assert "--master-bind-port" not in master["command"]
    assert "--master-port" not in worker["command"]
    published = [str(p).rsplit(":", 2)[-2:] for p in master["ports"]]
    assert [str(locust_port), str(locust_port)] in published, "workers on other hosts"


def test_workers_share_no_files_with_the_master(services: dict[str, Any]) -> None:
    worker = services["locust-worker"]
    assert "volumes" not in worker, "a worker's samples go to the master, not to a file"
    assert "LOADTEST_OUT_DIR" not in worker.get("environment", {})
    # the master keeps what it collected (results.json, samples-worker-*.jsonl, workers.json)
    assert any(str(v).endswith(":/app/reports") for v in services["locust-master"]["volumes"])


def test_workers_get_the_time_scale_their_users_time_out_by(services: dict[str, Any]) -> None:
    master_env = services["locust-master"]["environment"]
    assert services["locust-worker"]["environment"]["TIME_SCALE"] == master_env["TIME_SCALE"]
    assert "LOADTEST_FLUSH_TIMEOUT_S" in master_env
