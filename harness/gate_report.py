"""What the deploy gate says: a :class:`GateReport` (items, each with its evidence results)
and its outputs: ``reports/gate/<target>-junit.xml`` (one testcase per item, for the CI's
test UI), ``<target>-verdict.json`` and the console table. The judging is
:mod:`harness.gate`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.checklist import Item
from harness.evidence.base import Outcome


@dataclass
class EvidenceResult:
    label: str
    kind: str
    outcome: Outcome
    # False: shown as explanation only (static reading of an item the probe measures)
    decisive: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "passed": self.outcome.passed,
            "observed": self.outcome.observed,
            "details": self.outcome.details,
            "stale": self.outcome.stale,
            "warnings": self.outcome.warnings,
            "decisive": self.decisive,
        }


@dataclass
class ItemResult:
    item: Item
    evidence: list[EvidenceResult]

    @property
    def passed(self) -> bool:
        return all(e.outcome.passed for e in self.evidence if e.decisive)

    def failure_lines(self) -> list[str]:
        lines = []
        for result in self.evidence:
            if not result.outcome.passed:
                note = "" if result.decisive else " (explanation, not decisive)"
                lines.append(f"{result.label}{note}: {result.outcome.observed}")
                lines += [f"    {d}" for d in result.outcome.details]
        return lines


@dataclass
class GateReport:
    target: str
    checklist_path: str
    created_at: str
    head_commit: str | None
    items: list[ItemResult] = field(default_factory=list)
    source_tree: str | None = None  # testbed.provenance: the tree every run must have measured

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.items)

    @property
    def failed_items(self) -> list[ItemResult]:
        return [i for i in self.items if not i.passed]

    @property
    def warnings(self) -> list[str]:
        """Every evidence's warnings, once each, in checklist order."""
        seen = [w for i in self.items for e in i.evidence for w in e.outcome.warnings]
        return list(dict.fromkeys(seen))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "passed": self.passed,
            "verdict": "pass" if self.passed else "fail",
            "created_at": self.created_at,
            "head_commit": self.head_commit,
            "source_tree": self.source_tree,
            "checklist": self.checklist_path,
            "failed_items": [i.item.id for i in self.failed_items],
            "warnings": self.warnings,
            "items": [
                {
                    "id": i.item.id,
                    "title": i.item.title,
                    "why": i.item.why,
                    "passed": i.passed,
                    "evidence": [e.to_dict() for e in i.evidence],
                }
                for i in self.items
            ],
        }


def write_outputs(report: GateReport, out_dir: Path) -> tuple[Path, Path]:
    """``<target>-junit.xml`` and ``<target>-verdict.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = out_dir / f"{report.target}-junit.xml"
    verdict = out_dir / f"{report.target}-verdict.json"
    junit.write_bytes(junit_xml(report))
    verdict.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return junit, verdict


def junit_xml(report: GateReport) -> bytes:
    """One testcase per checklist item; the failure message is the item's ``why``."""
    failures = len(report.failed_items)
    suites = ET.Element("testsuites", name="resilience-gate", tests=str(len(report.items)),
                        failures=str(failures))  # fmt: skip
    suite = ET.SubElement(
        suites, "testsuite", name=f"resilience-gate.{report.target}",
        tests=str(len(report.items)), failures=str(failures), errors="0", skipped="0",
        timestamp=report.created_at,
    )  # fmt: skip
    for result in report.items:
        case = ET.SubElement(
            suite, "testcase", classname=f"gate.{report.target}",
            name=f"{result.item.id} {result.item.title}",
        )  # fmt: skip
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.item.why, type="GateFailure")
            failure.text = "\n".join(result.failure_lines())
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            [f"{e.label}: {e.outcome.observed}" for e in result.evidence]
            + [f"warning: {w}" for e in result.evidence for w in e.outcome.warnings]
        )
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def render(report: GateReport, console: Console) -> None:
    table = Table(title=f"Resilience gate: {report.target}", show_lines=True)
    table.add_column("item", no_wrap=False, max_width=34)
    table.add_column("evidence", max_width=44)
    table.add_column("observed")
    table.add_column("verdict", justify="center")
    for result in report.items:
        for i, evidence in enumerate(result.evidence):
            head = f"[bold]{result.item.id}[/] {escape(result.item.title)}" if i == 0 else ""
            verdict = _verdict_cell(evidence.outcome, evidence.decisive)
            table.add_row(head, escape(evidence.label), escape(evidence.outcome.observed), verdict)
    console.print(table)
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    failed = report.failed_items
    if not failed:
        console.print(f"[bold green]GATE PASSED[/]: {len(report.items)}/{len(report.items)} "
                      f"items pass on {report.target}")  # fmt: skip
        return
    console.print(f"[bold red]GATE FAILED[/] on {report.target}: {len(failed)} of "
                  f"{len(report.items)} items fail")  # fmt: skip
    for result in failed:
        console.print(f"[red]FAIL {result.item.id}[/] {escape(result.item.title)}: "
                      f"{escape(result.item.why)}")  # fmt: skip
        for line in result.failure_lines():
            console.print(f"    {line}", markup=False, highlight=False)


def _verdict_cell(outcome: Outcome, decisive: bool = True) -> str:
    if outcome.passed:
        return "[green]pass[/]"
    if not decisive:
        return "[yellow]explains[/]"
    return "[yellow]stale[/]" if outcome.stale else "[red]FAIL[/]"
