"""Processes as ``/proc`` knows them: a pid with its start time names one process for good.

The ledger (:mod:`testbed.ledger`) records each process it starts by pid and start time,
and the reaper (:mod:`testbed.reaper`) finds what a dead run left, without mistaking a
recycled pid for the process it once was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # "Z" = zombie: dead, not yet reaped by its parent
    pgid: int
    start_time: int  # clock ticks after boot: with the pid, names one process for good


def proc_stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat`` of a process, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')'
    fields = raw[raw.rfind(")") + 2 :].split()
    return ProcStat(pid=pid, state=fields[0], pgid=int(fields[2]), start_time=int(fields[19]))


def is_running(pid: int, start_time: int) -> bool:
    """True when ``pid`` is alive and is the process that started at ``start_time``."""
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z" and stat.start_time == start_time


def all_processes() -> list[ProcStat]:
    stats = (
        proc_stat(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()
    )
    return [s for s in stats if s is not None]
