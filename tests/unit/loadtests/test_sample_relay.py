"""Workers' samples to the master (loadtests.sample_relay): batches, totals, the master's files."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from loadtests.metrics import (
    STARTED_FILE,
    WORKERS_FILE,
    IncompleteSamplesError,
    compute_metrics,
    read_samples,
)
from loadtests.sample_relay import (
    BATCH_ROWS,
    DONE_MESSAGE,
    SAMPLES_MESSAGE,
    MasterCollector,
    WorkerRelay,
)

pytestmark = pytest.mark.unit

HEALTH = "GET /health"


def _row(i: int, status: int | None = 200) -> dict[str, Any]:
    return {"t": 1000.0 + i / 10, "n": HEALTH, "s": status, "ms": float(i % 97), "lb504": False}


class _Wire:
    """Messages from workers to one master, as Locust would hand them over (in order)."""

    def __init__(self, master: MasterCollector) -> None:
        self.master = master
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def worker(self, name: str) -> WorkerRelay:
        def send(kind: str, data: dict[str, Any]) -> None:
            # through JSON like msgpack: no shared objects between the two ends
            self.sent.append((name, kind, json.loads(json.dumps(data))))

        return WorkerRelay(send)

    def deliver(self, lose: int | None = None) -> None:
        for i, (name, kind, data) in enumerate(self.sent):
            if i == lose:
                continue
            if kind == SAMPLES_MESSAGE:
                self.master.receive(name, data)
            elif kind == DONE_MESSAGE:
                self.master.done(name, data)
        self.sent.clear()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / STARTED_FILE).write_text(json.dumps({"started_at": 1000.0}))
    return tmp_path


def test_a_worker_sends_full_batches_then_the_rest_and_its_total() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    relay = WorkerRelay(lambda kind, data: sent.append((kind, data)))
    relay.start()
    for i in range(BATCH_ROWS + 7):
        relay.add(_row(i))
    assert [(k, len(d["rows"])) for k, d in sent] == [(SAMPLES_MESSAGE, BATCH_ROWS)]
    relay.finish()
    assert [k for k, _ in sent] == [SAMPLES_MESSAGE, SAMPLES_MESSAGE, DONE_MESSAGE]
    assert len(sent[1][1]["rows"]) == 7
    assert sent[2][1] == {"rows": BATCH_ROWS + 7, "batches": 2}
    relay.add(_row(0))  # after the total was reported: not part of this run
    relay.finish()
    assert relay.dropped == 1 and sent[-1][1] == {"rows": BATCH_ROWS + 7, "batches": 2}
    relay.start()  # the next test counts from zero
    assert (relay.sent_rows, relay.batches, relay.closed) == (0, 0, False)


def test_the_master_writes_every_worker_s_rows_where_read_samples_finds_them(
    run_dir: Path,
) -> None:
    master = MasterCollector(lambda: str(run_dir))
    master.start(["w1", "w2"])
    wire = _Wire(master)
    workers = {"w1": wire.worker("w1"), "w2": wire.worker("w2")}
    rows = {"w1": [_row(i) for i in range(700)], "w2": [_row(i, 503) for i in range(700, 1000)]}
    for name, relay in workers.items():
        relay.start()
        for row in rows[name]:
            relay.add(row)
        relay.send_batch()
        wire.deliver()
    assert sorted(master.missing()) == [
        "w1: 700 samples received, no final report",
        "w2: 300 samples received, no final report",
    ]
    for relay in workers.values():
        relay.finish()
    wire.deliver()
    assert master.missing() == [] and master.finish(timeout_s=30) == []

    summary = json.loads((run_dir / WORKERS_FILE).read_text())
    assert summary["complete"] and summary["error"] is None
    assert {w: t["rows"] for w, t in summary["workers"].items()} == {"w1": 700, "w2": 300}
    samples = read_samples(run_dir)
    assert len(samples) == 1000
    # what one process holding every row would compute
    metrics = compute_metrics(samples)
    assert metrics["requests_total"] == 1000 and metrics["error_rate"] == pytest.approx(0.3)


def test_a_lost_batch_is_found_by_the_worker_s_total(run_dir: Path) -> None:
    master = MasterCollector(lambda: str(run_dir))
    master.start(["w1"])
    wire = _Wire(master)
    relay = wire.worker("w1")
    relay.start()
    for i in range(BATCH_ROWS * 2):
        relay.add(_row(i))
    relay.finish()
    wire.deliver(lose=0)  # the first batch never arrived
    assert master.missing() == [f"w1: {BATCH_ROWS} of {BATCH_ROWS * 2} samples received"]
    master.finish(timeout_s=30)
    with pytest.raises(IncompleteSamplesError, match=r"w1: 500 of 1000 samples received"):
        read_samples(run_dir)


def test_a_worker_that_never_reports_makes_the_folder_unjudgeable(run_dir: Path) -> None:
    master = MasterCollector(lambda: str(run_dir))
    master.start(["alive", "dead"])
    wire = _Wire(master)
    relay = wire.worker("alive")
    relay.start()
    relay.add(_row(1))
    relay.finish()
    wire.deliver()
    assert master.finish(timeout_s=12) == ["dead: 0 samples received, no final report"]
    summary = json.loads((run_dir / WORKERS_FILE).read_text())
    assert not summary["complete"]
    assert summary["workers"]["alive"]["complete"] and not summary["workers"]["dead"]["complete"]
    with pytest.raises(IncompleteSamplesError) as caught:
        read_samples(run_dir)
    message = str(caught.value)
    assert "within 12 s" in message and "dead" in message and "--master-host" in message


def test_a_new_test_starts_new_tallies(run_dir: Path) -> None:
    master = MasterCollector(lambda: str(run_dir))
    master.start(["w1"])
    master.receive("w1", {"rows": [_row(1)], "sent_at": time.time()})
    master.done("w1", {"rows": 1})
    master.finish(timeout_s=30)
    master.start(["w2"])
    assert list(master.tallies) == ["w2"] and not master.finished


def test_without_a_folder_rows_are_counted_not_written(tmp_path: Path) -> None:
    master = MasterCollector(lambda: None)  # an ordinary UI run: nothing judges it
    master.start(["w1"])
    master.receive("w1", {"rows": [_row(1), _row(2)], "sent_at": time.time()})
    master.done("w1", {"rows": 2})
    assert master.finish(timeout_s=30) == []
    assert master.tallies["w1"].rows == 2 and list(tmp_path.iterdir()) == []


def test_a_worker_clock_far_off_is_reported(
    run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    master = MasterCollector(lambda: str(run_dir))
    master.start(["slow-clock"])
    master.receive("slow-clock", {"rows": [_row(1)], "sent_at": time.time() - 5.0})
    master.done("slow-clock", {"rows": 1})
    with caplog.at_level(logging.WARNING, logger="loadtests"):
        master.finish(timeout_s=30)
    assert "slow-clock's clock is ~5.0 s off" in caplog.text
    offset = json.loads((run_dir / WORKERS_FILE).read_text())["workers"]["slow-clock"]
    assert offset["clock_offset_s"] == pytest.approx(5.0, abs=0.5)


def test_a_single_process_folder_has_no_workers_file_and_reads_as_before(run_dir: Path) -> None:
    (run_dir / "samples-123.jsonl").write_text(json.dumps(_row(3)) + "\n")
    assert [s.latency_ms for s in read_samples(run_dir)] == [3.0]
