"""CPU seconds of each process of the stack during a bench, per labelled process tree.

The sampler reads cumulative CPU time (user + system, ``psutil``) of every process of
each tree (its root and all descendants: gunicorn's master *and* its workers, Locust and
the processes it forks, PostgreSQL's backends) every half second. A process's reading
includes the CPU of the children it has reaped (``children_user`` + ``children_system``),
so a worker that exits (a legacy worker killed on timeout, a backend of a closed
connection) still counts, in its parent, even when it lived between two samples; the
total is kept from going down while an exited child waits to be reaped. Each sample reads
the process table once (:func:`children_by_pid`) and every tree finds its descendants in
that one map: the sampler's own CPU stays small beside what it measures.

Differences of these readings over a step's window, divided by the requests answered in
it, give CPU seconds per request (:func:`window_cpu`). Cumulative times instead of
``cpu_percent`` samples: nothing is lost to a process's first (always 0) reading, and a
short window is still exact at its two ends.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psutil

SAMPLE_INTERVAL_S = 0.5
MACHINE = "machine"  # the machine's busy CPU seconds (all cores), beside the trees
LOAD_GENERATOR = "load_generator"
SERVICE = "service"


def label_of(process_name: str, target: str) -> str | None:
    """The bench label of a stack process for ``target``, None when it belongs to the other.

    The stack names its processes ``<target>-gunicorn``, ``caddy-<target>``,
    ``toxiproxy-<target>``, ``fake-<kind>-<target>`` (testbed/stack.py) and Locust
    ``locust-<target>-<scenario>`` (harness/loadrun.py); a process without a target in its
    name (``redis``, an embedded PostgreSQL ``postgres-<port>``) serves both targets and
    keeps its name, without a port.
    """
    if process_name == f"{target}-gunicorn":
        return SERVICE
    if process_name.startswith(f"locust-{target}-"):
        return LOAD_GENERATOR
    for prefix in ("caddy", "toxiproxy"):
        if process_name == f"{prefix}-{target}":
            return prefix
    if process_name.startswith("fake-") and process_name.endswith(f"-{target}"):
        return "fake_" + process_name.removeprefix("fake-").removesuffix(f"-{target}")
    others = ("legacy", "refactored")
    if any(name in process_name for name in others) or process_name.startswith("locust-"):
        return None
    return re.sub(r"-\d+$", "", process_name).replace("-", "_")  # postgres-<port>: postgres


@dataclass
class TreeReading:
    """The cumulative CPU seconds of one process tree and the pids they came from."""

    seconds: float
    pids: tuple[int, ...]


def _ppid_map() -> dict[int, int]:
    """{pid: parent pid} of every running process, from one scan of the process table."""
    # psutil's own map, what Process.children() reads on each call (one /proc/<pid>/stat
    # per process): about 4x cheaper than process_iter; the public form if psutil lacks it
    scan = getattr(psutil, "_ppid_map", None)
    if scan is not None:
        return dict(scan())
    return {
        proc.pid: proc.info["ppid"]
        for proc in psutil.process_iter(["ppid"])
        if proc.info["ppid"] is not None
    }


def children_by_pid() -> dict[int, list[int]]:
    """{pid: its child pids} of every running process, from one scan of the process table."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    return children


class TreeCpu:
    """Cumulative CPU seconds of one process tree, monotone across exiting children."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self._seen: set[int] = set()
        self._procs: dict[int, psutil.Process] = {}
        self._total = 0.0

    def _descendants(
        self, root: psutil.Process, children: Mapping[int, Sequence[int]]
    ) -> list[psutil.Process]:
        """The root's descendants in ``children`` (as psutil's children(recursive=True))."""
        found: list[psutil.Process] = []
        seen = {root.pid}
        stack = list(children.get(root.pid, ()))
        while stack:
            pid = stack.pop()
            if pid in seen:  # a cycle: a pid reused while the table was read
                continue
            seen.add(pid)
            proc = self._procs.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                    if proc.create_time() < root.create_time():  # older: a reused pid
                        continue
                except psutil.Error:
                    continue
            found.append(proc)
            stack.extend(children.get(pid, ()))
        return found

    def _processes(self, children: Mapping[int, Sequence[int]] | None) -> list[psutil.Process]:
        """The root and its descendants now ([] once the root is gone)."""
        try:
            root = self._procs.get(self.root_pid)
            if root is None:
                root = self._procs[self.root_pid] = psutil.Process(self.root_pid)
            if children is None:
                return [root, *root.children(recursive=True)]
            if not root.is_running():  # gone, or its pid reused by another process
                return []
            return [root, *self._descendants(root, children)]
        except psutil.Error:
            return []

    def read(self, children: Mapping[int, Sequence[int]] | None = None) -> TreeReading:
        """``children``: {pid: child pids} from one scan shared by every tree of a sample
        (:func:`children_by_pid`); None: this tree scans the process table itself."""
        procs = self._processes(children)
        total = 0.0
        for proc in procs:
            cached = self._procs.setdefault(proc.pid, proc)
            try:
                times = cached.cpu_times()
            except psutil.Error:
                continue
            self._seen.add(proc.pid)
            total += times.user + times.system + times.children_user + times.children_system
        if procs:  # once the root is gone the tree keeps its last total
            self._total = max(self._total, total)
        return TreeReading(self._total, tuple(sorted(self._seen)))


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (all cores) spent on anything but idling."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class CpuSampler(threading.Thread):
    """Cumulative CPU seconds of labelled process trees, every ``interval_s``.

    Each sample is ``{"t": wall-clock time, label: seconds, ..., "machine": seconds}``.
    A tree can be added while sampling runs (:meth:`watch`: Locust starts a moment later).
    """

    def __init__(self, trees: Mapping[str, int], interval_s: float = SAMPLE_INTERVAL_S) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._trees = {label: TreeCpu(pid) for label, pid in trees.items()}

    def watch(self, label: str, pid: int) -> None:
        with self._lock:
            self._trees.setdefault(label, TreeCpu(pid))

    def pids(self) -> dict[str, list[int]]:
        """Every pid each label's figure summed (the root and each descendant seen)."""
        with self._lock:
            return {label: list(tree.read().pids) for label, tree in self._trees.items()}

    def sample(self) -> dict[str, float]:
        with self._lock:
            trees = dict(self._trees)
        row = {"t": time.time(), MACHINE: machine_busy_seconds()}
        children: dict[int, list[int]] | None
        try:
            children = children_by_pid()  # one scan of the process table for every tree
        except psutil.Error:
            children = None  # each tree scans on its own
        for label, tree in trees.items():
            row[label] = tree.read(children).seconds
        return row

    def run(self) -> None:
        self.samples.append(self.sample())
        while not self.stop_event.wait(self.interval_s):
            self.samples.append(self.sample())

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)
        self.samples.append(self.sample())


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds per label between two samples, and the wall-clock span they cover."""

    begin_s: float
    end_s: float
    seconds: dict[str, float]

    @property
    def span_s(self) -> float:
        return self.end_s - self.begin_s

    def percent(self, label: str) -> float | None:
        """% of one core over the window (100 = one core busy throughout)."""
        if label not in self.seconds or self.span_s <= 0:
            return None
        return round(100.0 * self.seconds[label] / self.span_s, 1)

    def ms_per_request(self, requests: int) -> dict[str, float | None]:
        """CPU milliseconds per request of each process tree (the machine left out)."""
        return {
            label: round(1000.0 * seconds / requests, 3) if requests else None
            for label, seconds in sorted(self.seconds.items())
            if label != MACHINE
        }


def window_cpu(
    samples: Sequence[Mapping[str, float]], begin: float, end: float
) -> CpuWindow | None:
    """The CPU spent between the first sample at or after ``begin`` and the last one at or
    before ``end`` (None: fewer than two samples inside). ``t`` is in the caller's clock."""
    inside = [s for s in samples if begin <= s["t"] <= end]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    labels: Iterable[str] = (k for k in last if k != "t" and k in first)
    return CpuWindow(first["t"], last["t"], {k: max(0.0, last[k] - first[k]) for k in labels})
