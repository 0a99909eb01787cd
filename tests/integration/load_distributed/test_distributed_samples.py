"""Locust master + two workers as separate processes: the master's results count every request.

The master and each worker run the real locustfile (plus a witness locustfile that notes
each request in the process's own folder) in their own temporary working directory on
127.0.0.1, against a small HTTP target in this process; nothing is shared but the
master's port. The workers' samples reach the master over Locust's messaging only
(loadtests.distributed): the master's ``samples-worker-*.jsonl`` must hold exactly what
each worker's witness saw, and the metrics the thresholds read must equal those of one
process holding the same samples (raw samples: the percentile error is 0).
"""

from __future__ import annotations

import itertools
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadtests.metrics import (
    WORKERS_FILE,
    IncompleteSamplesError,
    Sample,
    compute_metrics,
    read_samples,
    read_started_at,
)
from testbed.net import free_port
from testbed.processes import ManagedProcess, ProcessGroup

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[3]
WITNESS = Path(__file__).with_name("witness_locustfile.py")
LOCUSTFILES = f"{REPO / 'loadtests' / 'locustfile.py'},{WITNESS}"
CONVERSATION_END = "POST /v1/conversations/end"
RUN_S = 8
USER_CLASSES = (
    "ConversationEnder",
    "FriendshipReader",
    "ActivitySuggester",
    "HealthProber",
    "BenchSuggester",
)


class _Target(BaseHTTPRequestHandler):
    """Answers anything: 200 mostly, every 7th 503, every 11th an LB-style 504, 1-60 ms."""

    protocol_version = "HTTP/1.1"
    numbers = itertools.count(1)

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        number = next(self.numbers)
        time.sleep(random.uniform(0.001, 0.06))
        if number % 11 == 0:
            status, body = 504, b"upstream timed out"  # no deadline_exceeded: the LB's
        elif number % 7 == 0:
            status, body = 503, b'{"error":"unavailable"}'
        else:
            status, body = 200, b'{"degraded":[]}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a user stopped at the end of the test hung up

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", LOCUSTFILES, "--loglevel", "INFO", *args]


# the evening mix, plus closed-loop users (several batches per worker), for -t seconds
ORDINARY_RUN = ("-u", "12", "-r", "12", "-t", f"{RUN_S}s", *USER_CLASSES)


def _run_master_and_workers(
    tmp_path: Path,
    host: str,
    *,
    kill_worker_after_s: float | None = None,
    run: tuple[str, ...] = ORDINARY_RUN,
    samples_env: bool = True,
) -> tuple[Path, list[Path], ManagedProcess]:
    """Master + 2 workers, each in its own folder; returns the master's samples folder
    (``LOADTEST_OUT_DIR``, or with ``samples_env=False`` its working directory), the
    workers' folders and the master's process (exited)."""
    port = free_port()
    master_dir, out = tmp_path / "master", tmp_path / "master" / "out"
    worker_dirs = [tmp_path / "worker-1", tmp_path / "worker-2"]
    for folder in (out, *worker_dirs):
        folder.mkdir(parents=True)
    common = {
        "PYTHONPATH": str(REPO),
        "LOADTEST_FLUSH_TIMEOUT_S": "10",
        "REPORTS_DIR": str(master_dir / "reports"),  # a scenario run's folder
        "TIME_SCALE": "0.01",
    }
    with ProcessGroup(tmp_path / "logs") as group:
        master = group.start(
            "locust-master",
            _locust(
                "--master",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--headless",
                "--expect-workers",
                "2",
                "--host",
                host,
                "--exit-code-on-error",
                "0",
                *run,
            ),
            env={**common, "LOADTEST_OUT_DIR": str(out) if samples_env else ""},
            cwd=master_dir,
        )
        master.wait_port(port)
        workers = [
            group.start(
                f"locust-worker-{i}",
                _locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                env={**common, "LOADTEST_OUT_DIR": ""},  # a worker writes no sample file
                cwd=folder,
            )
            for i, folder in enumerate(worker_dirs, start=1)
        ]
        if kill_worker_after_s is not None:
            deadline = time.monotonic() + 60
            while read_started_at(out) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(kill_worker_after_s)
            workers[1].signal_group(signal.SIGKILL)  # no test_stop, no last batch
        assert master.popen is not None
        master.popen.wait(timeout=RUN_S + 120)
        for worker in workers:
            if worker.popen is not None and worker.alive():
                worker.popen.wait(timeout=30)
        logs = "\n".join(p.log_tail(15) for p in (master, *workers))
        assert master.popen.returncode is not None, logs
    return (out if samples_env else master_dir), worker_dirs, master


def _witnessed(folder: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for p in folder.glob("witness-*.jsonl")
        for line in p.read_text().splitlines()
    ]


def _key(row: dict[str, object]) -> tuple[object, ...]:
    return (row["t"], row["n"], row["s"], row["ms"], row["g"])


def _as_one_process(rows: list[dict[str, object]], started_at: float) -> list[Sample]:
    """The samples one Locust process would have recorded for these requests (the target's
    504s are the LB's; its 200 conversation ends name no fallback)."""
    samples = [
        Sample(
            t_s=max(0.0, float(r["t"]) - started_at),  # type: ignore[arg-type]
            endpoint=str(r["n"]),
            status=r["s"],  # type: ignore[arg-type]
            latency_ms=float(r["ms"]),  # type: ignore[arg-type]
            lb_504=r["s"] == 504,
            group=str(r["g"]),
            degraded=False if (r["s"] == 200 and r["n"] == CONVERSATION_END) else None,
        )
        for r in rows
    ]
    return sorted(samples, key=lambda s: s.t_s)


def test_the_master_counts_every_request_of_both_workers(tmp_path: Path, target: str) -> None:
    out, worker_dirs, _master = _run_master_and_workers(tmp_path, target)

    summary = json.loads((out / WORKERS_FILE).read_text())
    assert summary["complete"], summary
    assert len(summary["workers"]) == 2, summary
    # what each worker did (its own witness, in its own folder) is what the master wrote
    merged_files = sorted(out.glob("samples-*.jsonl"))
    assert [p.name.startswith("samples-worker-") for p in merged_files] == [True, True]
    by_master = {
        p.name: Counter(_key(json.loads(line)) for line in p.read_text().splitlines())
        for p in merged_files
    }
    by_worker = {d.name: Counter(_key(r) for r in _witnessed(d)) for d in worker_dirs}
    assert all(by_worker.values()), "each worker ran users and sent requests"
    assert sorted(by_master.values(), key=sorted) == sorted(by_worker.values(), key=sorted)
    for worker, tally in summary["workers"].items():
        assert tally["rows"] == tally["announced_rows"], worker
    sent = {w: t["announced_rows"] for w, t in summary["workers"].items()}

    # the metrics the thresholds read: from the master's folder, and from one process
    # holding every worker's requests, are the same numbers (percentiles included)
    started_at = read_started_at(out)
    assert started_at is not None
    merged = read_samples(out)
    alone = _as_one_process([r for d in worker_dirs for r in _witnessed(d)], started_at)
    assert len(merged) == sum(sent.values()) == len(alone)
    from_master, from_one_process = compute_metrics(merged), compute_metrics(alone)
    assert from_master == from_one_process
    assert from_master["lb_504_count"] and from_master["error_rate"]  # statuses went through
    percentiles = {
        k: (from_master[k], from_one_process[k])
        for k in sorted(from_master)
        if k.endswith(("p50_ms", "p95_ms", "p99_ms"))
    }
    print(  # shown with -s: the figures of the report
        json.dumps(
            {
                "sent_per_worker": sent,
                "batches_per_worker": {w: t["batches"] for w, t in summary["workers"].items()},
                "master_merged": len(merged),
                "one_process": len(alone),
                "percentiles_master_vs_one_process_ms": percentiles,
            },
            indent=1,
        )
    )


def test_a_worker_whose_samples_never_arrive_makes_the_run_unjudgeable(
    tmp_path: Path, target: str
) -> None:
    out, _worker_dirs, _master = _run_master_and_workers(tmp_path, target, kill_worker_after_s=3)

    summary = json.loads((out / WORKERS_FILE).read_text())
    assert not summary["complete"], summary
    incomplete = [w for w, t in summary["workers"].items() if not t["complete"]]
    assert len(incomplete) == 1, summary
    with pytest.raises(IncompleteSamplesError, match=incomplete[0]) as caught:
        read_samples(out)
    assert "no final report" in str(caught.value)
    assert "--master-host" in str(caught.value)  # says what to check


def test_processes_on_one_machine_go_through_the_master_too(tmp_path: Path, target: str) -> None:
    """``--processes`` (make load's --processes): the forked workers inherit
    LOADTEST_OUT_DIR, yet write no file of their own; the master writes one per worker."""
    out = tmp_path / "out"
    out.mkdir()
    with ProcessGroup(tmp_path / "logs") as group:
        locust = group.start(
            "locust-processes",
            _locust(
                "--processes",
                "2",
                "--headless",
                "-u",
                "6",
                "-r",
                "6",
                "-t",
                f"{RUN_S // 2}s",
                "--host",
                target,
                "--exit-code-on-error",
                "0",
            ),
            env={"PYTHONPATH": str(REPO), "LOADTEST_OUT_DIR": str(out)},
            cwd=tmp_path,
        )
        assert locust.popen is not None
        locust.popen.wait(timeout=RUN_S + 120)
    summary = json.loads((out / WORKERS_FILE).read_text())
    assert summary["complete"] and len(summary["workers"]) == 2, summary
    files = sorted(p.name for p in out.glob("samples-*.jsonl"))
    assert len(files) == 2 and all(f.startswith("samples-worker-") for f in files), files
    witnessed = _witnessed(tmp_path)  # the forked workers' witnesses share the cwd
    assert len(read_samples(out)) == len(witnessed) > 0


def test_a_scenario_s_results_json_on_the_master_counts_both_workers(
    tmp_path: Path, target: str
) -> None:
    """``--scenario`` on the master (no stack: no faults): the verdict Locust's plugin
    writes is judged on the master over every worker's requests."""
    master_dir, worker_dirs, master = _run_master_and_workers(
        tmp_path, target, run=("--scenario", "three_am", "--time-scale", "0.01"), samples_env=False
    )
    (run_dir,) = (master_dir / "reports").glob("*-locust-three_am")
    assert master.popen is not None and master.popen.returncode != 2, "judged"
    result = json.loads((run_dir / "results.json").read_text())["results"][0]
    summary = json.loads((run_dir / WORKERS_FILE).read_text())
    assert summary["complete"], summary
    sent = [t["announced_rows"] for t in summary["workers"].values()]
    witnessed = [len(_witnessed(d)) for d in worker_dirs]
    assert len(sent) == 2 and all(witnessed)
    assert result["requests_total"] == sum(sent) == sum(witnessed)
    print(json.dumps({"scenario_requests_total": result["requests_total"], "sent": sent}))
