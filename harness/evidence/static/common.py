"""What every static check shares: the target's parsed source (once per gate run) and how
findings become an :class:`Outcome` (at most MAX_DETAILS listed, the count says the rest)."""

from __future__ import annotations

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import SourceTree, load_tree

MAX_DETAILS = 12  # findings listed per check; the count says how many in all


def source_tree(context: GateContext) -> SourceTree:
    key = f"tree:{context.spec.package}"
    if key not in context.cache:
        context.cache[key] = load_tree(context.repo_root, context.spec.package)
    tree: SourceTree = context.cache[key]
    return tree


def result(findings: list[str], checked: int, what: str, ok: str) -> Outcome:
    if not checked:
        return Outcome.fail(f"no {what} found", [f"found no {what} to check: wrong package?"])
    if findings:
        return Outcome.fail(f"{checked - len(findings)}/{checked} {what} {ok}", shown(findings))
    return Outcome.ok(f"{checked}/{checked} {what} {ok}")


def shown(findings: list[str]) -> list[str]:
    """The first MAX_DETAILS findings, then how many more."""
    return findings[:MAX_DETAILS] + more(findings)


def more(lines: list[str]) -> list[str]:
    return [f"... and {len(lines) - MAX_DETAILS} more"] if len(lines) > MAX_DETAILS else []
