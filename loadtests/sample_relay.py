"""Workers' samples to the master: the bookkeeping of both ends, without Locust.

:mod:`loadtests.distributed` wires these to Locust's messaging; this module only batches
rows on a worker (:class:`WorkerRelay`) and tallies, writes and checks them on the master
(:class:`MasterCollector`). docs/loadtests.md "Distributed mode" describes the protocol.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from loadtests.metrics import WORKERS_FILE

logger = logging.getLogger("loadtests")

SAMPLES_MESSAGE = "loadtests_samples"  # worker -> master: {"rows": [...], "sent_at": epoch}
DONE_MESSAGE = "loadtests_samples_done"  # worker -> master: {"rows": n, "batches": n}
FLUSH_MESSAGE = "loadtests_flush"  # master -> worker: stop, send the rest, say how many

BATCH_ROWS = 500  # a batch leaves when it is this long or BATCH_INTERVAL_S old
BATCH_INTERVAL_S = 1.0
CLOCK_SKEW_WARN_S = 1.0  # a worker's clock this far off shifts the per-second series

Row = dict[str, Any]
Send = Callable[[str, dict[str, Any]], None]


class WorkerRelay:
    """A worker's samples, sent to the master in batches; ``finish`` says how many in all."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.buffer: list[Row] = []
        self.sent_rows = 0  # rows handed to the transport (delivered or not: the master checks)
        self.batches = 0
        self.closed = False
        self.dropped = 0  # rows recorded after the done message (not part of the run)

    def start(self) -> None:
        """A new test: counts from zero."""
        self.buffer, self.sent_rows, self.batches, self.closed, self.dropped = [], 0, 0, False, 0

    def add(self, row: Row) -> None:
        if self.closed:
            self.dropped += 1
            return
        self.buffer.append(row)
        if len(self.buffer) >= BATCH_ROWS:
            self.send_batch()

    def send_batch(self) -> None:
        if not self.buffer:
            return
        rows, self.buffer = self.buffer, []
        # counted before sending: a batch lost in transit leaves the master short, and the
        # done message's total then tells it so
        self.sent_rows += len(rows)
        self.batches += 1
        self._send(SAMPLES_MESSAGE, {"rows": rows, "sent_at": time.time()})

    def finish(self) -> None:
        """Send what is left and the totals (again, if the master asks again)."""
        self.send_batch()
        self.closed = True
        if self.dropped:
            logger.warning("%d samples recorded after this worker's last report", self.dropped)
        self._send(DONE_MESSAGE, {"rows": self.sent_rows, "batches": self.batches})


@dataclass
class WorkerTally:
    """What the master heard from one worker during one test."""

    rows: int = 0
    batches: int = 0
    announced_rows: int | None = None  # what the worker's done message says it sent
    clock_offset_s: float | None = None  # min(master receive - worker send): skew + latency

    @property
    def complete(self) -> bool:
        return self.announced_rows is not None and self.rows == self.announced_rows

    def describe(self, worker: str) -> str:
        if self.announced_rows is None:
            return f"{worker}: {self.rows} samples received, no final report"
        return f"{worker}: {self.rows} of {self.announced_rows} samples received"


def _file_name(worker: str) -> str:
    return "samples-worker-" + re.sub(r"[^A-Za-z0-9_.-]", "_", worker) + ".jsonl"


class MasterCollector:
    """The master's side: each worker's rows into the run's folder, and whether all came.

    ``out_dir`` says where the run's samples go (None: nowhere, e.g. an ordinary UI run
    with no scenario: the rows are counted, not written).
    """

    def __init__(self, out_dir: Callable[[], str | None]) -> None:
        self._out_dir = out_dir
        self.tallies: dict[str, WorkerTally] = {}
        self.folder: Path | None = None
        self._files: dict[str, IO[str]] = {}
        self.finished = False

    def start(self, workers: Iterable[str]) -> None:
        """A new test; ``workers``: the workers connected now (each owes a final report)."""
        self._close()
        self.tallies = {}
        self.expect(workers)
        self.folder = None
        self.finished = False

    def expect(self, workers: Iterable[str]) -> None:
        for worker in workers:
            self.tallies.setdefault(worker, WorkerTally())

    def receive(self, worker: str, data: dict[str, Any]) -> None:
        rows: list[Row] = data.get("rows") or []
        tally = self.tallies.setdefault(worker, WorkerTally())
        if self.finished:
            logger.warning("%d samples from %s after the run was judged", len(rows), worker)
        tally.rows += len(rows)
        tally.batches += 1
        offset = time.time() - float(data.get("sent_at", time.time()))
        if tally.clock_offset_s is None or offset < tally.clock_offset_s:
            tally.clock_offset_s = offset
        sink = self._sink(worker)
        if sink is not None:
            sink.writelines(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
            sink.flush()  # the harness reads the folder once Locust has exited

    def done(self, worker: str, data: dict[str, Any]) -> None:
        self.tallies.setdefault(worker, WorkerTally()).announced_rows = int(data["rows"])

    def missing(self) -> list[str]:
        """The workers whose samples have not all arrived (as sentences)."""
        return [t.describe(w) for w, t in sorted(self.tallies.items()) if not t.complete]

    def finish(self, timeout_s: float) -> list[str]:
        """Close the files and write ``workers.json``; returns :meth:`missing`."""
        self._close()
        self.finished = True
        missing = self.missing()
        for worker, tally in sorted(self.tallies.items()):
            if tally.clock_offset_s is not None and abs(tally.clock_offset_s) > CLOCK_SKEW_WARN_S:
                logger.warning(
                    "worker %s's clock is ~%.1f s off the master's: its samples' times shift "
                    "the per-second series and fault windows (sync the clocks, e.g. NTP)",
                    worker,
                    tally.clock_offset_s,
                )
        folder = self.folder or self._resolve_folder()
        if folder is not None:
            summary = {
                "complete": not missing,
                "error": incomplete_error(missing, timeout_s) if missing else None,
                "workers": {
                    w: {**asdict(t), "complete": t.complete} for w, t in self.tallies.items()
                },
            }
            (folder / WORKERS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        return missing

    def _resolve_folder(self) -> Path | None:
        if self.folder is None:
            given = self._out_dir()
            self.folder = Path(given) if given else None
        return self.folder

    def _sink(self, worker: str) -> IO[str] | None:
        if worker not in self._files:
            folder = self._resolve_folder()
            if folder is None:
                return None
            self._files[worker] = (folder / _file_name(worker)).open("a")
        return self._files[worker]

    def _close(self) -> None:
        for sink in self._files.values():
            sink.close()
        self._files = {}


def incomplete_error(missing: list[str], timeout_s: float) -> str:
    """The sentence for a run whose workers' samples did not all arrive."""
    return (
        f"not every Locust worker's samples reached the master within {timeout_s:.0f} s ("
        + "; ".join(missing)
        + "): the thresholds would judge part of the traffic. Check that each worker is "
        "alive and reaches the master (--master-host/--master-port), then run again."
    )
