"""The harness's process and port plumbing: clear errors, loopback only, no orphans."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from testbed.net import LOOPBACK, free_port, port_is_free
from testbed.postgres import redact, with_database
from testbed.processes import MissingBinaryError, ProcessGroup, require_binary
from testbed.services import UnknownTargetError, check_target, gunicorn_argv, gunicorn_timeout

pytestmark = pytest.mark.unit


def test_gunicorn_timeout_rounds_up_so_it_never_undercuts_the_app() -> None:
    assert gunicorn_timeout(5.5) == 6
    assert gunicorn_timeout(55.0) == 55
    assert gunicorn_timeout(0.2) == 1


def test_unknown_target_names_the_valid_ones() -> None:
    with pytest.raises(UnknownTargetError, match="legacy, refactored"):
        check_target("blue-green")
    assert check_target("legacy") == "legacy"


def test_gunicorn_binds_loopback_with_uvicorn_workers() -> None:
    argv = gunicorn_argv("refactored", 8123, workers=2, timeout_s=5.5)
    assert argv[argv.index("--bind") + 1] == f"{LOOPBACK}:8123"
    assert argv[argv.index("--worker-class") + 1] == "uvicorn_worker.UvicornWorker"
    assert argv[argv.index("--timeout") + 1] == "6"
    assert "refactored.main:create_app()" in argv
    # uvicorn never rewrites the client from X-Forwarded-For: the service judges the peer
    assert argv[argv.index("--forwarded-allow-ips") + 1] == ""


def test_free_port_is_free_until_someone_binds_it() -> None:
    port = free_port()
    assert port_is_free(port)
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))
        sock.listen()
        assert not port_is_free(port)


def test_redact_hides_the_password_only() -> None:
    url = "postgresql://app:s3cret@127.0.0.1:5432/test"
    assert redact(url) == "postgresql://app:***@127.0.0.1:5432/test"
    assert redact("postgresql://postgres@127.0.0.1/test") == "postgresql://postgres@127.0.0.1/test"
    assert with_database(url, "other").endswith("127.0.0.1:5432/other")


def test_missing_binary_says_what_to_do() -> None:
    with pytest.raises(MissingBinaryError, match="install it with make setup"):
        require_binary("definitely-not-a-binary-xyz", "install it with make setup")


def test_process_group_stops_its_children_even_when_the_body_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), ProcessGroup(tmp_path) as group:
        child = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        assert child.alive()
        raise RuntimeError("boom")
    assert not child.alive()
