"""A parsed source tree for the static checks: modules, parents, import aliases, classes.

The standard library's ``ast`` is enough for these checks: each one looks for a
handful of well-known shapes (a route decorator, an ``httpx.Client(...)`` call);
a full type checker would not make them more convincing and would be slower.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from harness.evidence.base import EvidenceError


@dataclass
class Module:
    path: Path  # relative to the repository root, for messages
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]
    aliases: dict[str, str]  # local name -> dotted origin ("AC" -> "httpx.AsyncClient")
    constants: dict[str, str]  # module-level NAME = "string"
    dotted: str = ""  # import name: "legacy.services.http_client" (also for src/ layouts)

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{getattr(node, 'lineno', 0)}"

    def qualname(self, expr: ast.expr) -> str:
        """Dotted name of ``expr`` with the first part resolved through the imports."""
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if isinstance(expr, ast.Name):
            parts.append(self.aliases.get(expr.id, expr.id))
        elif isinstance(expr, ast.Call):
            parts.append(self.qualname(expr.func) + "()")
        else:
            parts.append("?")
        return ".".join(reversed(parts))

    def enclosing(self, node: ast.AST) -> list[ast.AST]:
        """Enclosing functions, lambdas and classes, innermost first."""
        scopes: list[ast.AST] = []
        current = self.parents.get(node)
        while current is not None:
            if isinstance(
                current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
            ):
                scopes.append(current)
            current = self.parents.get(current)
        return scopes


@dataclass
class SourceTree:
    root: Path
    modules: list[Module] = field(default_factory=list)
    classes: dict[str, tuple[ast.ClassDef, Module]] = field(default_factory=dict)


def load_tree(repo_root: Path, package: str) -> SourceTree:
    """Parse every ``.py`` file under ``repo_root/package`` (a syntax error is an error)."""
    base = repo_root / package
    if not base.is_dir():
        raise EvidenceError(
            f"package directory {base} does not exist (see the checklist's targets.*.package)"
        )
    tree = SourceTree(base)
    for file in sorted(base.rglob("*.py")):
        rel = file.relative_to(repo_root)
        try:
            parsed = ast.parse(file.read_text(), filename=str(rel))
        except (OSError, SyntaxError, ValueError) as exc:
            raise EvidenceError(f"cannot parse {rel}: {exc}") from exc
        parts = list(file.relative_to(base.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = Module(
            rel, parsed, _parents(parsed), _aliases(parsed), _constants(parsed), ".".join(parts)
        )
        tree.modules.append(module)
        for node in ast.walk(parsed):
            if isinstance(node, ast.ClassDef):
                tree.classes.setdefault(node.name, (node, module))
    if not tree.modules:
        raise EvidenceError(f"no Python files under {base}")
    return tree


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _aliases(tree: ast.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.asname:
                    aliases[name.asname] = name.name
                else:
                    top = name.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    return aliases


def _constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        text = string_parts(value, {}) if value is not None else ""
        for target in targets:
            if isinstance(target, ast.Name) and text:
                constants[target.id] = text
    return constants


def string_parts(node: ast.AST | None, constants: dict[str, str]) -> str:
    """The literal text an expression contributes to a string (f-strings, ``+``, constants)."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(string_parts(v, constants) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return string_parts(node.value, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return string_parts(node.left, constants) + string_parts(node.right, constants)
    if isinstance(node, ast.Name):
        return constants.get(node.id, "")
    return ""


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in call.keywords if k.arg == name), None)


def has_splat(call: ast.Call) -> bool:
    return any(k.arg is None for k in call.keywords)


def is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, 0) and node.value is not None


def is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None
