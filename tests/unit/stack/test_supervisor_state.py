"""The bookkeeping `up` and `down` rely on: pid records that survive pid reuse, stale files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testbed.stack_supervisor import (
    StatePaths,
    clear_state,
    identity,
    recorded_children,
    running_supervisor,
    same_process_alive,
)

pytestmark = pytest.mark.unit


def test_a_live_process_is_recognised_by_pid_and_start_time() -> None:
    record = identity(os.getpid())
    assert record is not None and same_process_alive(record)
    # same pid, other start time: a reused pid is not "our" process
    assert not same_process_alive({**record, "create_time": record["create_time"] - 100})


def test_running_supervisor_ignores_missing_stale_and_garbled_pid_files(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    assert running_supervisor(paths) is None
    paths.pid.write_text("not json")
    assert running_supervisor(paths) is None
    me = identity(os.getpid())
    assert me is not None
    paths.pid.write_text(json.dumps({**me, "create_time": 1.0}))
    assert running_supervisor(paths) is None
    paths.pid.write_text(json.dumps(me))
    assert running_supervisor(paths) == os.getpid()


def test_clear_state_removes_only_the_state_files(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    paths.logs.mkdir()
    for path in (paths.pid, paths.stack_json, paths.processes, paths.supervisor_log):
        path.write_text("[]")
    assert recorded_children(paths) == []
    clear_state(paths)
    assert not paths.pid.exists() and not paths.stack_json.exists()
    assert not paths.processes.exists()
    assert paths.supervisor_log.exists()  # the log of a failed boot is kept for reading
