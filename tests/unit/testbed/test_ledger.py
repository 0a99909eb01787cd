"""The ledger and its reaper: a dead run's leftovers go, a live run's stay, nothing crashes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.ledger import Ledger, read_ledger
from testbed.procfs import is_running, proc_stat
from testbed.reaper import _with_env_password, reap_dead_runs

pytestmark = pytest.mark.unit

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(SLEEP, start_new_session=True)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _dead_owner_ledger(directory: Path, children: list[subprocess.Popen[bytes]]) -> Ledger:
    """A ledger whose owner is a real process that is then killed: its file stays behind."""
    owner = _sleeper()
    children.append(owner)
    ledger = Ledger(directory, owner_pid=owner.pid)
    placeholder = Path(tempfile.gettempdir()) / f"ctxh-never-made-{owner.pid}"
    ledger.path_created(placeholder, "placeholder")  # opens the file; nothing to reap
    owner.kill()
    owner.wait()
    return ledger


def _reap(directory: Path) -> list[str]:
    lines: list[str] = []
    reap_dead_runs(directory, say=lines.append)
    return lines


def test_a_record_is_private_fsynced_json_and_the_file_goes_once_all_is_released(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "ledger"
    ledger = Ledger(directory)
    key = ledger.process_started("sleeper", os.getpid(), ["sleep", "1"])
    database = ledger.database_creating("stack_legacy_0123abcd", "postgresql://u@h:5/postgres")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    records = [json.loads(line) for line in ledger.path.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["owner", "process", "database"]
    assert records[0]["pid"] == os.getpid() and records[0]["start_time"] > 0
    me = proc_stat(os.getpid())
    assert me is not None and records[1]["start_time"] == me.start_time
    ledger.released(key)
    assert ledger.path.exists()
    ledger.database_dropped("stack_legacy_0123abcd")
    assert not ledger.path.exists(), database


def test_removing_an_embedded_servers_data_dir_releases_the_databases_it_held(
    tmp_path: Path,
) -> None:
    """Else a reaper would try for ever to drop databases on a server that is gone."""
    ledger = Ledger(tmp_path / "ledger")
    embedded = "postgresql://postgres@127.0.0.1:54001/postgres"
    server = ledger.path_created(tmp_path / "ctxh-pg-x", "embedded PostgreSQL", embedded)
    ledger.database_creating("stack_refactored_0123abcd", embedded)
    elsewhere = ledger.database_creating("nw_0123abcd", "postgresql://postgres@127.0.0.1:5432/x")
    ledger.released(server)
    assert set(read_ledger(ledger.path).entries) == {elsewhere}
    ledger.released(elsewhere)
    assert not ledger.path.exists()


def test_a_pid_with_another_start_time_is_another_process() -> None:
    me = proc_stat(os.getpid())
    assert me is not None
    assert is_running(os.getpid(), me.start_time)
    assert not is_running(os.getpid(), me.start_time - 1)


def test_a_live_owners_processes_are_never_reaped(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    child = _sleeper()
    children.append(child)
    Ledger(tmp_path).process_started("sleeper", child.pid, SLEEP)  # owner: this test, alive
    assert _reap(tmp_path) == []
    assert child.poll() is None


def test_a_dead_owners_process_group_is_killed_and_said_so(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    ledger = _dead_owner_ledger(tmp_path, children)
    child = _sleeper()
    children.append(child)
    ledger.process_started("fake-llm-legacy", child.pid, SLEEP)
    lines = _reap(tmp_path)
    assert child.wait(timeout=5) == -signal.SIGKILL
    assert len(lines) == 1, lines
    assert f"killed fake-llm-legacy (process group {child.pid})" in lines[0]
    assert f"dead harness pid {ledger.owner_pid}" in lines[0]
    assert not ledger.path.exists()
    assert _reap(tmp_path) == []  # once reaped, nothing to say


def test_a_recycled_pid_is_left_alone(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    ledger = _dead_owner_ledger(tmp_path, children)
    stranger = _sleeper()  # the recorded pid, but started at another time: not ours
    children.append(stranger)
    stranger_stat = proc_stat(stranger.pid)
    assert stranger_stat is not None
    record = {"kind": "process", "key": "process:x", "name": "gunicorn", "pid": stranger.pid}
    record["start_time"] = stranger_stat.start_time - 100
    with ledger.path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    lines = _reap(tmp_path)
    assert stranger.poll() is None
    assert any(f"pid {stranger.pid} now belongs to another process" in line for line in lines)


def test_group_members_outliving_their_leader_are_killed(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    # a gunicorn master killed alone leaves its workers in its group
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(worker.pid, flush=True)
        time.sleep(60)
        """
    )
    leader = subprocess.Popen(
        [sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE
    )
    children.append(leader)
    assert leader.stdout is not None
    worker_pid = int(leader.stdout.readline())
    ledger = _dead_owner_ledger(tmp_path, children)
    ledger.process_started("legacy-gunicorn", leader.pid, ["gunicorn"])
    leader.kill()
    leader.wait()
    worker = proc_stat(worker_pid)
    assert worker is not None and worker.state != "Z"
    lines = _reap(tmp_path)
    assert any("killed legacy-gunicorn" in line for line in lines), lines
    deadline = time.monotonic() + 5
    while is_running(worker_pid, worker.start_time) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(worker_pid, worker.start_time)


def test_a_malformed_line_is_named_and_skipped_not_a_crash(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    ledger = _dead_owner_ledger(tmp_path, children)
    child = _sleeper()
    children.append(child)
    with ledger.path.open("a") as handle:
        handle.write('{"kind": "process", "pid": "half a li\n')
        handle.write("[1, 2]\n")
    ledger.process_started("caddy-legacy", child.pid, ["caddy", "run"])
    parsed = read_ledger(ledger.path)
    assert len(parsed.problems) == 2
    assert "line 3 is not a ledger record" in parsed.problems[0]
    lines = _reap(tmp_path)
    assert sum("is not a ledger record" in line and "skipped" in line for line in lines) == 2
    assert any("killed caddy-legacy" in line for line in lines)
    assert child.wait(timeout=5) == -signal.SIGKILL


def test_a_file_without_an_owner_is_reported_and_left(tmp_path: Path) -> None:
    path = tmp_path / "1-1.jsonl"
    path.write_text("not json at all\n")
    lines = _reap(tmp_path)
    assert any("names no owner: left alone" in line for line in lines)
    assert path.exists()


def test_temp_dirs_go_but_only_the_harness_own(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    ledger = _dead_owner_ledger(tmp_path, children)
    ours = Path(tempfile.mkdtemp(prefix="ctxh-metrics-test-"))
    elsewhere = tmp_path / "ctxh-not-in-tmp"
    elsewhere.mkdir()
    ledger.path_created(ours, "Prometheus multiprocess dir")
    ledger.path_created(elsewhere, "a dir")
    lines = _reap(tmp_path)
    assert not ours.exists()
    assert elsewhere.exists()
    assert any(f"removed Prometheus multiprocess dir {ours}" in line for line in lines)
    assert any(f"left {elsewhere} alone" in line for line in lines)


def test_only_generated_database_names_are_ever_dropped(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    ledger = _dead_owner_ledger(tmp_path, children)
    ledger.database_creating("postgres", "postgresql://postgres@127.0.0.1:1/postgres")
    lines = _reap(tmp_path)
    assert any("left database 'postgres' alone" in line for line in lines), lines


def test_a_child_started_from_a_short_lived_thread_outlives_it_but_not_the_harness(
    tmp_path: Path,
) -> None:
    # The parent-death signal follows the forking *thread*: the stack boots its targets in
    # a thread pool, whose children must survive the pool and die with the harness.
    script = textwrap.dedent(
        f"""
        import sys, threading, time
        from pathlib import Path
        from testbed.processes import ProcessGroup
        group = ProcessGroup(Path({str(tmp_path)!r}))
        started = []
        thread = threading.Thread(target=lambda: started.append(group.start("s", {SLEEP!r})))
        thread.start(); thread.join()
        print(started[0].pid, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "HARNESS_LEDGER_DIR": str(tmp_path / "ledger")}
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert harness.stdout is not None
        child = int(harness.stdout.readline())
        child_stat = proc_stat(child)
        assert child_stat is not None
        time.sleep(0.3)
        assert is_running(child, child_stat.start_time)  # the thread is gone, the child is not
    finally:
        harness.kill()
        harness.wait()
        assert harness.stdout is not None
        harness.stdout.close()
    deadline = time.monotonic() + 5
    while is_running(child, child_stat.start_time) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(child, child_stat.start_time)


def test_the_drop_url_takes_the_password_from_database_url_only_for_the_same_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = "postgresql://app:***@db.example:5433/postgres"  # as the ledger holds it
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db.example:5433/test")
    assert _with_env_password(recorded) == "postgresql://app:s3cret@db.example:5433/postgres"
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@other:5433/test")
    assert _with_env_password(recorded) == "postgresql://app@db.example:5433/postgres"
    monkeypatch.delenv("DATABASE_URL")
    assert _with_env_password("postgresql://postgres@h:1/x") == "postgresql://postgres@h:1/x"


def test_a_file_that_released_an_embedded_server_reads_without_its_databases(
    tmp_path: Path,
) -> None:
    url = "postgresql://postgres@127.0.0.1:49759/postgres"
    lines = [
        {"kind": "owner", "pid": 1, "start_time": 1, "argv": [], "cwd": "/", "at": "x"},
        {
            "kind": "path",
            "key": "path:/tmp/ctxh-pg-a",
            "path": "/tmp/ctxh-pg-a",
            "what": "pg",
            "admin_url": url,
        },
        {
            "kind": "database",
            "key": "database:stack_legacy_0123abcd",
            "name": "stack_legacy_0123abcd",
            "admin_url": url,
        },
        {"kind": "released", "key": "path:/tmp/ctxh-pg-a"},
    ]
    path = tmp_path / "1-1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ledger = read_ledger(path)
    assert ledger.entries == {} and ledger.problems == []
