"""Locust's distributed mode: every worker's samples reach the master's results.

A Locust worker writes no sample file. The locustfile's request hook hands each sample row
to :func:`forward`; the worker sends them in batches to the master over Locust's own
messaging (``runner.send_message`` / ``register_message``, the connection
``--master-host`` opens), and the master appends each worker's rows to
``samples-worker-<id>.jsonl`` in the run's folder, where
:func:`loadtests.metrics.read_samples` reads them like any process's. So every threshold
of ``results.json`` is computed on the master from all the workers' requests, whatever
host the workers run on (``--processes`` on one machine goes the same way).

Raw rows rather than a mergeable sketch (HDR histogram, t-digest): the thresholds need
more than latency quantiles. They tell the LB's 504s from the app's, count per status,
client group and time window (the recovery's second half, the per-second series, the
fault windows) and the degraded share of conversation ends; one sketch per combination
would cost about what the rows cost at this load, and rows are exact (percentile error
0). A row is ~80-90 bytes of msgpack: 5,000 requests/s is ~450 kB/s to the master.

The end of a test: when a headless run ends, Locust fires the master's ``test_stop``
*before* its workers stop (``MasterRunner.quit`` -> ``stop(send_stop_to_client=False)``),
then sends them ``quit``, waits 0.5 s and stops listening. So on ``test_stop`` the master
asks every worker (``loadtests_flush``) and waits: the worker stops its users (its own
``test_stop``), sends what it holds, then the number of rows it sent in all. The master
waits at most ``FLUSH_TIMEOUT_S`` (+ ``--stop-timeout``) for every worker's count to
match, then writes ``workers.json``; a worker whose samples did not all arrive is named
in the log and there, :func:`wait_for_worker_samples` raises and ``read_samples`` refuses
the folder. See docs/loadtests.md "Distributed mode".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from locust import events as locust_events
from locust.env import Environment
from locust.exception import RPCError
from locust.rpc import Message
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from loadtests.metrics import IncompleteSamplesError
from loadtests.sample_relay import (
    BATCH_INTERVAL_S,
    DONE_MESSAGE,
    FLUSH_MESSAGE,
    SAMPLES_MESSAGE,
    MasterCollector,
    Row,
    WorkerRelay,
    incomplete_error,
)

logger = logging.getLogger("loadtests")
# how long the master waits for its workers' last samples (+ --stop-timeout): a live worker
# answers in well under a second, a dead one never
FLUSH_TIMEOUT_S = float(os.environ.get("LOADTEST_FLUSH_TIMEOUT_S") or 30.0)


class Relay:
    """This Locust process's part (one process is one runner: a worker, a master or neither)."""

    worker: WorkerRelay | None = None
    master: MasterCollector | None = None
    collected = Event()  # set when the master has finished waiting for this test's samples
    error: str | None = None
    timeout_s: float = FLUSH_TIMEOUT_S


def relaying() -> bool:
    """Is this process a worker, whose samples go to the master (not to a file)?"""
    return Relay.worker is not None


def forward(row: Row) -> None:
    """Queue one sample row (the locustfile's format) for the master."""
    if Relay.worker is None:
        raise RuntimeError("forward() outside a Locust worker: write the sample instead")
    Relay.worker.add(row)


def register(out_dir: Callable[[], str | None]) -> None:
    """Relay samples in this Locust process once its runner exists (call it from the
    locustfile). ``out_dir``: where the master writes the workers' rows (the run's folder,
    asked when the first rows of a test arrive)."""

    def on_init(environment: Environment, **_kwargs: Any) -> None:
        wire(environment, out_dir)

    locust_events.init.add_listener(on_init)


def wire(environment: Environment, out_dir: Callable[[], str | None]) -> None:
    """Wire the relay into ``environment``'s runner (a worker's or a master's)."""
    runner = environment.runner
    events = environment.events
    if isinstance(runner, WorkerRunner):
        worker = Relay.worker = WorkerRelay(_worker_send(runner))
        runner.register_message(FLUSH_MESSAGE, _on_flush_request)
        events.test_start.add_listener(lambda **_: worker.start())
        events.test_stop.add_listener(lambda **_: worker.finish())
        runner.greenlet.spawn(_send_periodically, worker)
    elif isinstance(runner, MasterRunner):
        master = Relay.master = MasterCollector(out_dir)
        Relay.collected.set()  # nothing to wait for before the first test
        runner.register_message(SAMPLES_MESSAGE, _from_worker(master.receive))
        runner.register_message(DONE_MESSAGE, _from_worker(master.done))
        events.test_start.add_listener(_on_master_test_start)
        events.test_stop.add_listener(_on_master_test_stop)


def wait_for_worker_samples() -> None:
    """Block (cooperatively) until the master has every worker's samples of the test that
    just stopped; raise :class:`IncompleteSamplesError` if some never arrived. Call it
    before reading the run's samples; returns at once outside a distributed master."""
    if Relay.master is None:
        return
    # the master's own wait is bounded (FLUSH_TIMEOUT_S + --stop-timeout): this one is a backstop
    if not Relay.collected.wait(timeout=2 * Relay.timeout_s + 60.0):
        raise IncompleteSamplesError("the master is still waiting for its workers' samples")
    if Relay.error:
        raise IncompleteSamplesError(Relay.error)


# ---- worker ------------------------------------------------------------------------------


def _worker_send(runner: WorkerRunner) -> Callable[[str, dict[str, Any]], None]:
    def send(kind: str, data: dict[str, Any]) -> None:
        try:
            runner.send_message(kind, data)
        except RPCError as exc:  # the master's count will be short: it says so at the end
            logger.error("could not send %s to the master: %s", kind, exc)

    return send


def _send_periodically(worker: WorkerRelay) -> None:
    while True:
        gevent.sleep(BATCH_INTERVAL_S)
        worker.send_batch()


def _on_flush_request(environment: Environment, msg: Message, **_kwargs: Any) -> None:
    """The master's test stopped: stop ours (our ``test_stop`` sends the rest and the
    total), or, already stopped, say the total again."""
    runner = environment.runner
    if runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING):
        runner.stop()
    elif Relay.worker is not None:
        Relay.worker.finish()


# ---- master ------------------------------------------------------------------------------


def _from_worker(
    handle: Callable[[str, dict[str, Any]], None],
) -> Callable[..., None]:
    def listener(environment: Environment, msg: Message, **_kwargs: Any) -> None:
        handle(msg.node_id, msg.data or {})

    return listener


def _connected_workers(runner: MasterRunner) -> list[str]:
    return [client.id for client in runner.clients.all]


def _on_master_test_start(environment: Environment, **_kwargs: Any) -> None:
    assert Relay.master is not None and isinstance(environment.runner, MasterRunner)
    Relay.collected.clear()
    Relay.error = None
    Relay.master.start(_connected_workers(environment.runner))


def _on_master_test_stop(environment: Environment, **_kwargs: Any) -> None:
    """Ask every worker for the rest of its samples and wait for them (this also holds
    ``MasterRunner.quit`` until they are in: it stops listening right after)."""
    master, runner = Relay.master, environment.runner
    if master is None or not isinstance(runner, MasterRunner) or Relay.collected.is_set():
        return
    master.expect(_connected_workers(runner))
    for worker in master.tallies:
        runner.send_message(FLUSH_MESSAGE, None, client_id=worker)
    timeout = Relay.timeout_s + float(environment.stop_timeout or 0.0)
    with gevent.Timeout(timeout, False):
        while master.missing():
            gevent.sleep(0.05)
    missing = master.finish(timeout)
    if missing:
        Relay.error = incomplete_error(missing, timeout)
        logger.error("%s", Relay.error)
    else:
        logger.info(
            "samples of %d worker(s) collected: %s",
            len(master.tallies),
            ", ".join(f"{w} {t.rows}" for w, t in sorted(master.tallies.items())),
        )
    Relay.collected.set()
