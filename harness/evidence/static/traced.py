"""``traced_calls``: every call to each dependency (found by URL path, ``dependency_calls``)
runs inside a tracing span, so a slow request shows where its time went."""

from __future__ import annotations

import ast
from typing import Any

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import Module
from harness.evidence.static.common import shown, source_tree
from harness.evidence.static.dependency_calls import DEFAULT_DEPENDENCIES, request_sites

SPAN_WORDS = ("span", "observe", "trace")


def traced_calls(evidence: Any, context: GateContext) -> Outcome:
    """Every HTTP call to each dependency runs inside a tracing span (``with
    tracer.start_as_current_span(...)``, or a span/``@observe`` decorator on an enclosing
    function), so a slow request shows where its time went."""
    dependencies: dict[str, str] = evidence.params.get("dependencies", DEFAULT_DEPENDENCIES)
    tree = source_tree(context)
    findings: list[str] = []
    summary: list[str] = []
    ok = True
    for dependency, marker in dependencies.items():
        sites = request_sites(tree, marker)
        traced = sum(1 for module, call in sites if _in_span(module, call))
        findings += [
            f"{module.where(call)}: {dependency} call outside any tracing span"
            for module, call in sites
            if not _in_span(module, call)
        ]
        if not sites:
            findings.append(f"{dependency}: no HTTP call whose URL contains {marker!r}")
        ok = ok and bool(sites) and traced == len(sites)
        summary.append(f"{dependency} {traced}/{len(sites)} traced")
    return Outcome(ok, "; ".join(summary), shown(findings))


def _in_span(module: Module, call: ast.Call) -> bool:
    node: ast.AST | None = module.parents.get(call)
    while node is not None:
        if isinstance(node, ast.With | ast.AsyncWith) and any(
            _mentions_span(ast.unparse(i.context_expr)) for i in node.items
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _mentions_span(ast.unparse(d)) for d in node.decorator_list
        ):
            return True
        node = module.parents.get(node)
    return False


def _mentions_span(text: str) -> bool:
    return any(word in text.lower() for word in SPAN_WORDS)
