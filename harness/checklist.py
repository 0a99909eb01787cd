"""The resilience checklist (``resilience-checklist.toml``): read, validated against its
schema (:mod:`harness.checklist_schema`) and against the checks the gate knows.

The seed's "checklist before deploy" made executable: one item per fix, each
naming its evidence. Five kinds of evidence:

- ``static``: a named check of the target's code (``harness.evidence.static``);
- ``config``: a named check of the target's effective settings (``harness.evidence.config``);
- ``dynamic``: named expectations of a scenario in the newest chaos or load run;
- ``contracts``: the newest contract run's summary (legacy and refactored score alike);
- ``probe``: a named check of the behavioural probe (``harness.evidence.behaviour``).

The schema imports no check and the checks import the schema; this module sits above both
and hands the check names to the validation. Every error names the file and the item so
the user knows what to fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.checklist_schema import (
    ALL_RESILIENCE,
    DEFAULT_CHECKLIST,
    KNOWN_CHECKS,
    Checklist,
    ChecklistError,
    ConfigEvidence,
    ContractsEvidence,
    Deployment,
    DynamicEvidence,
    Evidence,
    Item,
    ProbeEvidence,
    StaticEvidence,
    TargetProbe,
    TargetSpec,
)
from harness.evidence import CONFIG_CHECKS, STATIC_CHECKS
from harness.evidence.behaviour import CHECKS as PROBE_CHECKS

__all__ = [
    "ALL_RESILIENCE",
    "DEFAULT_CHECKLIST",
    "Checklist",
    "ChecklistError",
    "ConfigEvidence",
    "ContractsEvidence",
    "Deployment",
    "DynamicEvidence",
    "Evidence",
    "Item",
    "ProbeEvidence",
    "StaticEvidence",
    "TargetProbe",
    "TargetSpec",
    "known_checks",
    "load_checklist",
]


def known_checks() -> dict[str, dict[str, Any]]:
    """The check names each named kind of evidence may use (the schema's validation context)."""
    return {"static": STATIC_CHECKS, "config": CONFIG_CHECKS, "probe": PROBE_CHECKS}


def load_checklist(path: Path = DEFAULT_CHECKLIST) -> Checklist:
    """Read and validate a checklist file; every problem is a :class:`ChecklistError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ChecklistError(f"cannot read checklist {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Checklist.model_validate(data, context={KNOWN_CHECKS: known_checks()})
    except ValidationError as exc:
        raise ChecklistError(_explain(path, data, exc)) from exc


def _explain(path: Path, data: dict[str, Any], exc: ValidationError) -> str:
    """One line per problem, naming the item by its id: ``items[1] (R2) evidence[0]: ...``."""
    lines = [f"{path}: invalid checklist ({exc.error_count()} problem(s)):"]
    raw_items = data.get("items")
    items: list[Any] = raw_items if isinstance(raw_items, list) else []
    for error in exc.errors():
        loc = list(error["loc"])
        where: list[str] = []
        for i, part in enumerate(loc):
            if isinstance(part, int) and i > 0:
                where[-1] = f"{where[-1]}[{part}]"
                if loc[i - 1] == "items" and part < len(items) and isinstance(items[part], dict):
                    where[-1] += f" (id {items[part].get('id', '?')!r})"
            elif part in {"static", "config", "dynamic", "contracts", "probe"}:
                continue  # pydantic's union tag: already implied by `kind`
            else:
                where.append(str(part))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {'.'.join(where) or '(top level)'}: {message}")
    return "\n".join(lines)
