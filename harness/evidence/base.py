"""What every evidence check receives (:class:`GateContext`) and returns (:class:`Outcome`).

A check is a plain function ``(evidence, context) -> Outcome`` registered by name
in its kind's table (``STATIC_CHECKS``, ``CONFIG_CHECKS``); the checklist names
them, and an unknown name is rejected when the checklist is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.checklist_schema import Checklist, TargetSpec


class EvidenceError(RuntimeError):
    """The evidence could not be gathered at all (a tool is missing, a file is unreadable)."""


@dataclass
class Outcome:
    """One piece of evidence, judged: ``observed`` is what the gate table shows."""

    passed: bool
    observed: str
    details: list[str] = field(default_factory=list)  # one line per finding (file:line: why)
    stale: bool = False  # dynamic evidence from an old run or another commit
    warnings: list[str] = field(default_factory=list)  # shown even when the evidence passes

    @classmethod
    def ok(cls, observed: str, details: list[str] | None = None) -> Outcome:
        return cls(True, observed, details or [])

    @classmethod
    def fail(cls, observed: str, details: list[str] | None = None) -> Outcome:
        return cls(False, observed, details or [])


@dataclass
class GateContext:
    """Everything a check may look at for one target."""

    repo_root: Path
    target: str
    spec: TargetSpec
    checklist: Checklist
    reports_dir: Path
    max_age_hours: float
    now: datetime
    head_commit: str | None
    head_commit_time: datetime | None  # when HEAD was committed (a run started before is stale)
    time_scale: float
    env: dict[str, str]  # the environment the target would be deployed with
    cache: dict[str, Any] = field(default_factory=dict)  # shared between checks of one gate run
    # testbed.provenance.source_tree_hash of the tree the gate judges (None: not hashable);
    # a run of any other tree is stale
    source_tree: str | None = None
