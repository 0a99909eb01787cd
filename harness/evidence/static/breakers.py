"""``breaker_guards``: every call to the LLM and the Memory API (found by URL path,
``dependency_calls``) runs inside a circuit breaker: a breaker decorator on an enclosing
function, or the enclosing function handed to a breaker (directly, or to a policy object
whose class holds one)."""

from __future__ import annotations

import ast
from typing import Any

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import Module, SourceTree
from harness.evidence.static.common import shown, source_tree
from harness.evidence.static.dependency_calls import DEFAULT_DEPENDENCIES, request_sites

GUARD_WORDS = ("breaker", "circuit")


def breaker_guards(evidence: Any, context: GateContext) -> Outcome:
    """Every HTTP call to each dependency (found by its URL path, e.g. ``chat/completions``)
    runs inside a circuit breaker: a breaker decorator on an enclosing function, or the
    enclosing function handed to a breaker (directly, or to a policy object that holds one)."""
    dependencies: dict[str, str] = evidence.params.get("dependencies", DEFAULT_DEPENDENCIES)
    tree = source_tree(context)
    findings: list[str] = []
    summary: list[str] = []
    ok = True
    for dependency, marker in dependencies.items():
        sites = request_sites(tree, marker)
        if not sites:
            ok = False
            summary.append(f"{dependency}: no call found")
            findings.append(f"{dependency}: no HTTP call whose URL contains {marker!r}")
            continue
        guarded = 0
        for module, call in sites:
            guard = _guard(tree, module, call)
            if guard:
                guarded += 1
            else:
                findings.append(f"{module.where(call)}: {dependency} call has no circuit breaker")
        ok = ok and guarded == len(sites)
        summary.append(f"{dependency} {guarded}/{len(sites)} guarded")
    observed = "; ".join(summary)
    return Outcome(ok, observed, shown(findings))


def _mentions_guard(text: str) -> bool:
    return any(word in text.lower() for word in GUARD_WORDS)


def _guard(tree: SourceTree, module: Module, call: ast.Call) -> str | None:
    """How ``call`` is guarded by a breaker, or None. Walks out through enclosing scopes."""
    scopes = module.enclosing(call)
    for i, scope in enumerate(scopes):
        if isinstance(scope, ast.ClassDef):
            return None
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in scope.decorator_list:
                if _mentions_guard(ast.unparse(decorator)):
                    return f"@{ast.unparse(decorator)}"
        outer = scopes[i + 1] if i + 1 < len(scopes) else None
        for user in _calls_passing(module, scope, outer):
            how = _guard_call(tree, module, user)
            if how:
                return how
    return None


def _calls_passing(module: Module, scope: ast.AST, outer: ast.AST | None) -> list[ast.Call]:
    """Calls that receive ``scope`` as an argument (a lambda in place, a def by name, a
    method as ``self.name``)."""
    if isinstance(scope, ast.Lambda):
        parent = module.parents.get(scope)
        return [parent] if isinstance(parent, ast.Call) else []
    assert isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
    search = outer if outer is not None else module.tree
    users = []
    for node in ast.walk(search):
        if not isinstance(node, ast.Call):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if (isinstance(arg, ast.Name) and arg.id == scope.name) or (
                isinstance(arg, ast.Attribute) and arg.attr == scope.name
            ):
                users.append(node)
    return users


def _guard_call(tree: SourceTree, module: Module, call: ast.Call) -> str | None:
    callee = ast.unparse(call.func)
    if _mentions_guard(callee):
        return callee
    # self.<attr>.call(fn): resolve <attr>'s class from the annotations of the enclosing class
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)):
        return None
    if not (isinstance(func.value.value, ast.Name) and func.value.value.id == "self"):
        return None
    cls = next((s for s in module.enclosing(call) if isinstance(s, ast.ClassDef)), None)
    annotation = _attribute_annotation(cls, func.value.attr) if cls else None
    if annotation is None:
        return None
    if _mentions_guard(annotation):
        return f"{callee} ({annotation})"
    for name, (policy_cls, _) in tree.classes.items():
        if name in annotation and any(_mentions_guard(a) for a in _field_annotations(policy_cls)):
            return f"{callee} ({name} holds a circuit breaker)"
    return None


def _attribute_annotation(cls: ast.ClassDef, attr: str) -> str | None:
    """The annotation of ``self.<attr>``: a class-level annotation, an annotated assignment,
    or the annotation of the ``__init__`` parameter assigned to it."""
    for node in cls.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id in {attr, attr.lstrip("_")}
        ):
            return ast.unparse(node.annotation)
    init = next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )
    if init is None:
        return None
    params = {a.arg: a.annotation for a in [*init.args.args, *init.args.kwonlyargs]}
    for inner in ast.walk(init):
        if (
            isinstance(inner, ast.AnnAssign)
            and isinstance(inner.target, ast.Attribute)
            and inner.target.attr == attr
        ):
            return ast.unparse(inner.annotation)
        if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Name):
            for target in inner.targets:
                if isinstance(target, ast.Attribute) and target.attr == attr:
                    annotation = params.get(inner.value.id)
                    return ast.unparse(annotation) if annotation is not None else None
    return None


def _field_annotations(cls: ast.ClassDef) -> list[str]:
    annotations = [
        f"{n.target.id}: {ast.unparse(n.annotation)}"
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    init = next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )
    if init is not None:
        annotations += [
            f"{a.arg}: {ast.unparse(a.annotation)}"
            for a in [*init.args.args, *init.args.kwonlyargs]
            if a.annotation is not None
        ]
    return annotations
