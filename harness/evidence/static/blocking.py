"""``blocking_calls_in_async``: blocking I/O reachable from an ``async def`` through the
package's own sync functions.

Ruff's ASYNC rules see a blocking call only when it is written directly inside the
``async def``; the 3am code hides it one or two helpers deep (the handler calls
``analyze_conversation``, which calls ``post_json_with_retry``, which calls a sync
``httpx.Client``). This check follows calls into the package's sync functions
(transitively) and reports the chain. A function handed to ``asyncio.to_thread`` or
``run_in_executor`` is a reference, not a call, so it is (rightly) not followed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import Module, SourceTree
from harness.evidence.static.common import shown, source_tree

BLOCKING_FUNCTIONS = {
    "time.sleep": "blocking sleep",
    "urllib.request.urlopen": "blocking HTTP",
    "psycopg2.connect": "sync DB driver",
    "pika.BlockingConnection": "blocking AMQP",
    "sqlite3.connect": "sync DB driver",
    "subprocess.run": "blocking subprocess",
    "subprocess.check_output": "blocking subprocess",
    "os.system": "blocking subprocess",
    "socket.create_connection": "blocking socket",
}
BLOCKING_PREFIXES = {"requests.": "blocking HTTP (requests)"}
HTTPX_SYNC = {"httpx.get", "httpx.post", "httpx.put", "httpx.patch", "httpx.delete",
              "httpx.request", "httpx.stream"}  # fmt: skip
SYNC_CLIENTS = {"httpx.Client": "sync httpx client", "requests.Session": "blocking HTTP"}
SQLALCHEMY_SYNC_TYPES = {"Session", "Engine", "Connection", "scoped_session"}
DB_METHODS = {"execute", "commit", "connect", "begin", "scalar", "scalars", "flush",
              "rollback", "query", "refresh", "get"}  # fmt: skip


@dataclass
class Function:
    name: str  # dotted: legacy.services.llm_analysis_utils.invoke_llm
    node: ast.FunctionDef | ast.AsyncFunctionDef
    module: Module
    dotted_module: str


def _dotted(module: Module) -> str:
    return module.dotted


class CallGraph:
    def __init__(self, tree: SourceTree) -> None:
        self.functions: dict[str, Function] = {}
        self.sync_objects: dict[str, str] = {}  # "pkg.mod.client" -> why it blocks
        for module in tree.modules:
            dotted = _dotted(module)
            for node in module.tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{dotted}.{node.name}"
                    self.functions[name] = Function(name, node, module, dotted)
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    why = SYNC_CLIENTS.get(module.qualname(node.value.func))
                    for target in node.targets:
                        if why and isinstance(target, ast.Name):
                            self.sync_objects[f"{dotted}.{target.id}"] = why
        self._memo: dict[str, list[str] | None] = {}

    def resolve(self, fn: Function, call: ast.Call) -> str:
        name = fn.module.qualname(call.func)
        if isinstance(call.func, ast.Name) and call.func.id not in fn.module.aliases:
            return f"{fn.dotted_module}.{call.func.id}"
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            base = call.func.value.id
            if base not in fn.module.aliases:  # a module-level object of this module
                return f"{fn.dotted_module}.{base}.{call.func.attr}"
        return name

    def primitive(self, fn: Function, call: ast.Call, db_names: set[str]) -> str | None:
        """Why ``call`` blocks by itself, or None."""
        name = self.resolve(fn, call)
        if name in BLOCKING_FUNCTIONS:
            return f"{name} ({BLOCKING_FUNCTIONS[name]})"
        if name in HTTPX_SYNC:
            return f"{name} (blocking HTTP)"
        for prefix, why in BLOCKING_PREFIXES.items():
            if name.startswith(prefix):
                return f"{name} ({why})"
        for obj, why in self.sync_objects.items():
            if name.startswith(obj + "."):
                return f"{name.removeprefix(fn.dotted_module + '.')} ({why})"
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in DB_METHODS:
            receiver = func.value
            if isinstance(receiver, ast.Name) and receiver.id in db_names:
                return f"{receiver.id}.{func.attr}() (sync SQLAlchemy)"
            if (
                isinstance(receiver, ast.Attribute)
                and receiver.attr.endswith("engine")
                and func.attr in {"connect", "begin"}
                and not _async_use(fn.module, call)
            ):
                return f"{ast.unparse(func)}() (sync SQLAlchemy engine)"
        return None

    def blocking_chain(self, name: str, stack: frozenset[str] = frozenset()) -> list[str] | None:
        """The call chain from sync function ``name`` to a blocking primitive, or None."""
        if name in self._memo:
            return self._memo[name]
        fn = self.functions.get(name)
        if fn is None or isinstance(fn.node, ast.AsyncFunctionDef) or name in stack:
            return None
        self._memo[name] = None  # cycle guard while computing
        chain = self._find(fn, stack | {name})
        self._memo[name] = chain
        return chain

    def _find(self, fn: Function, stack: frozenset[str]) -> list[str] | None:
        db_names = _sync_db_names(fn)
        for call in _own_calls(fn.node):
            why = self.primitive(fn, call, db_names)
            if why:
                return [why]
            callee = self.resolve(fn, call)
            if callee in self.functions:
                sub = self.blocking_chain(callee, stack)
                if sub:
                    return [callee.rsplit(".", 1)[-1], *sub]
        return None


def _async_use(module: Module, call: ast.Call) -> bool:
    """``await x.connect()`` or ``async with x.connect()``: an async engine, not a blocking one."""
    parent = module.parents.get(call)
    if isinstance(parent, ast.Await):
        return True
    holder = module.parents.get(parent) if parent is not None else None
    return isinstance(parent, ast.withitem) and isinstance(holder, ast.AsyncWith)


def _own_calls(node: ast.AST) -> list[ast.Call]:
    """Calls in a function body, not in nested defs or lambdas (those run elsewhere)."""
    calls: list[ast.Call] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.Call):
            calls.append(child)
        stack.extend(ast.iter_child_nodes(child))
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _sync_db_names(fn: Function) -> set[str]:
    """Parameters and locals annotated with a sync SQLAlchemy type."""
    names = set()
    args = fn.node.args
    annotated = [(a.arg, a.annotation) for a in [*args.args, *args.kwonlyargs]]
    annotated += [
        (n.target.id, n.annotation)
        for n in ast.walk(fn.node)
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    for name, annotation in annotated:
        if annotation is None:
            continue
        for part in ast.walk(annotation):
            if isinstance(part, ast.Name | ast.Attribute):
                qual = fn.module.qualname(part)
                sync = qual.startswith("sqlalchemy") and "asyncio" not in qual
                if sync and qual.rsplit(".", 1)[-1] in SQLALCHEMY_SYNC_TYPES:
                    names.add(name)
    return names


def blocking_calls_in_async(evidence: Any, context: GateContext) -> Outcome:
    graph = CallGraph(source_tree(context))
    findings: list[str] = []
    async_defs = [
        (module, node)
        for module in source_tree(context).modules
        for node in ast.walk(module.tree)
        if isinstance(node, ast.AsyncFunctionDef)
    ]
    for module, node in async_defs:
        fn = Function(node.name, node, module, _dotted(module))
        db_names = _sync_db_names(fn)
        for call in _own_calls(node):
            why = graph.primitive(fn, call, db_names)
            chain = [why] if why else None
            callee = graph.resolve(fn, call)
            if chain is None and callee in graph.functions:
                sub = graph.blocking_chain(callee)
                chain = [callee.rsplit(".", 1)[-1], *sub] if sub else None
            if chain:
                findings.append(f"{module.where(call)}: async {node.name} -> {' -> '.join(chain)}")
    if not async_defs:
        return Outcome.fail("no async def found", ["found no async function to check"])
    if findings:
        return Outcome.fail(
            f"{len(findings)} blocking call(s) reachable from {len(async_defs)} async defs",
            shown(findings),
        )
    return Outcome.ok(f"no blocking call reachable from {len(async_defs)} async defs")
