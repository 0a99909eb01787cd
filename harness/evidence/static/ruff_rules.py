"""``async_rules``: ruff's ASYNC rules (blocking calls inside ``async def``) on the target's
package with ruff's defaults (``--isolated``, ``--ignore-noqa``), so a per-file ignore or a
``# noqa`` in the project cannot hide a finding."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.static.common import shown


def async_rules(evidence: Any, context: GateContext) -> Outcome:
    """Ruff's ASYNC rules on the package, ignoring the project's ignores and noqa comments."""
    package = context.repo_root / context.spec.package
    select = str(evidence.params.get("select", "ASYNC"))
    command = [
        sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--ignore-noqa",
        "--select", select, "--output-format", "json", "--exit-zero", str(package),
    ]  # fmt: skip
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EvidenceError(f"cannot run ruff: {exc}") from exc
    if proc.returncode != 0:
        raise EvidenceError(f"ruff failed ({proc.returncode}): {proc.stderr.strip()[:400]}")
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"ruff printed no JSON: {proc.stdout[:200]!r}") from exc
    files = len(list(package.rglob("*.py")))
    if not findings:
        return Outcome.ok(f"ruff {select}: 0 findings in {files} files")
    lines = []
    for finding in findings:
        file = finding["filename"]
        with contextlib.suppress(ValueError):
            file = str(context.repo_root.joinpath(file).resolve().relative_to(context.repo_root))
        row = finding["location"]["row"]
        lines.append(f"{file}:{row}: {finding['code']} {finding['message']}")
    codes = sorted({f["code"] for f in findings})
    observed = f"ruff {select}: {len(findings)} findings ({', '.join(codes)})"
    return Outcome.fail(observed, shown(lines))
