"""``routes_rate_limited``: every FastAPI route (decorator or ``add_api_route``) carries a
rate-limit decorator (slowapi's ``@limiter.limit(...)``)."""

from __future__ import annotations

import ast
from typing import Any

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import Module, keyword, string_parts
from harness.evidence.static.common import result, source_tree

ROUTE_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "route"}
LIMIT_DECORATORS = {"limit", "shared_limit"}


def _route_path(decorator: ast.expr) -> str | None:
    """``@router.post("/v1/x")`` -> ``"POST /v1/x"``; None when not a route decorator."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return None
    if decorator.func.attr not in ROUTE_METHODS:
        return None
    path_node = decorator.args[0] if decorator.args else None
    path_kw = keyword(decorator, "path")
    path_node = path_node if path_node is not None else (path_kw.value if path_kw else None)
    if not (isinstance(path_node, ast.Constant) and isinstance(path_node.value, str)):
        return None
    if not path_node.value.startswith("/") and path_node.value != "":
        return None
    method = decorator.func.attr.upper() if decorator.func.attr in ROUTE_METHODS - {
        "api_route", "route"} else "ROUTE"  # fmt: skip
    return f"{method} {path_node.value or '/'}"


def _is_limit(decorator: ast.expr) -> bool:
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in LIMIT_DECORATORS
    )


def routes_rate_limited(evidence: Any, context: GateContext) -> Outcome:
    """Every FastAPI route (decorator or ``add_api_route``) carries ``@<limiter>.limit(...)``.

    Functions are judged one node at a time, never by name: a module may define two
    handlers with the same name (each decorator registers its route when it runs), and
    a limited one must not hide an unlimited one.
    """
    exempt = set(evidence.params.get("exempt", []))
    findings: list[str] = []
    checked = 0
    for module in source_tree(context).modules:
        functions = [
            n
            for n in ast.walk(module.tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for node in functions:
            routes = [r for r in map(_route_path, node.decorator_list) if r]
            for route in routes:
                if route in exempt:
                    continue
                checked += 1
                if not any(_is_limit(d) for d in node.decorator_list):
                    where = module.where(node)
                    findings.append(f"{where}: {route} ({node.name}) has no rate limit")
        for call in ast.walk(module.tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr != "add_api_route" or len(call.args) < 2:
                continue
            path = string_parts(call.args[0], module.constants) or "?"
            route = f"ROUTE {path}"
            if route in exempt:
                continue
            checked += 1
            endpoint = call.args[1]
            targets = (
                _bound_functions(module, functions, endpoint.id, call)
                if isinstance(endpoint, ast.Name)
                else []
            )
            if not targets or not all(any(_is_limit(d) for d in t.decorator_list) for t in targets):
                findings.append(f"{module.where(call)}: {route} (add_api_route) has no rate limit")
    return result(findings, checked, "routes", "rate-limited")


def _scope(module: Module, node: ast.AST) -> ast.AST:
    enclosing = module.enclosing(node)
    return enclosing[0] if enclosing else module.tree


def _bound_functions(
    module: Module,
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef],
    name: str,
    call: ast.Call,
) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The definition(s) ``name`` may refer to at ``call``: the last one defined before it
    in the same scope; otherwise every function of that name in the module (any of them
    unlimited fails the route: when in doubt the gate does not pass)."""
    same_name = [f for f in functions if f.name == name]
    scope = _scope(module, call)
    before = [f for f in same_name if _scope(module, f) is scope and f.lineno < call.lineno]
    return [max(before, key=lambda f: f.lineno)] if before else same_name
