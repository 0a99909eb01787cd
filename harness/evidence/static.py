"""Static evidence: checks of the target's code, without running it.

- ``async_rules``: ruff's ASYNC rules (blocking calls inside ``async def``), run on
  the target's package with ruff's defaults (``--isolated``), so a per-file ignore
  or a ``# noqa`` in the project cannot hide a finding;
- ``routes_rate_limited``: every FastAPI route has a rate-limit decorator (slowapi's
  ``@limiter.limit(...)``);
- ``http_timeouts``: every HTTP client or request names an explicit timeout;
- ``tls_verified``: nothing turns TLS verification off;
- ``breaker_guards``: every call to the LLM and the Memory API runs inside a circuit breaker.
"""

from __future__ import annotations

import ast
import contextlib
import json
import subprocess
import sys
from typing import Any

from harness.evidence.base import EvidenceError, GateContext, Outcome
from harness.evidence.source import (
    Module,
    SourceTree,
    has_splat,
    is_false,
    is_none,
    keyword,
    load_tree,
    string_parts,
)

MAX_DETAILS = 12  # findings listed per check; the count says how many in all


def _tree(context: GateContext) -> SourceTree:
    key = f"tree:{context.spec.package}"
    if key not in context.cache:
        context.cache[key] = load_tree(context.repo_root, context.spec.package)
    tree: SourceTree = context.cache[key]
    return tree


def _result(findings: list[str], checked: int, what: str, ok: str) -> Outcome:
    if not checked:
        return Outcome.fail(f"no {what} found", [f"found no {what} to check: wrong package?"])
    if findings:
        shown = findings[:MAX_DETAILS]
        if len(findings) > MAX_DETAILS:
            shown.append(f"... and {len(findings) - MAX_DETAILS} more")
        return Outcome.fail(f"{checked - len(findings)}/{checked} {what} {ok}", shown)
    return Outcome.ok(f"{checked}/{checked} {what} {ok}")


# ---- async_rules -------------------------------------------------------------------------


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
    return Outcome.fail(observed, lines[:MAX_DETAILS] + _more(lines))


def _more(lines: list[str]) -> list[str]:
    return [f"... and {len(lines) - MAX_DETAILS} more"] if len(lines) > MAX_DETAILS else []


# ---- routes_rate_limited -----------------------------------------------------------------

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
    for module in _tree(context).modules:
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
    return _result(findings, checked, "routes", "rate-limited")


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


# ---- http_timeouts and tls_verified ------------------------------------------------------

CLIENT_CONSTRUCTORS = {"httpx.Client", "httpx.AsyncClient", "aiohttp.ClientSession"}
REQUEST_FUNCTIONS = {
    f"{lib}.{verb}"
    for lib in ("httpx", "requests")
    for verb in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
}


def http_timeouts(evidence: Any, context: GateContext) -> Outcome:
    """Every ``httpx.Client/AsyncClient``, ``aiohttp.ClientSession`` and module-level
    ``httpx.*``/``requests.*`` request names ``timeout=`` explicitly (and not ``None``)."""
    findings: list[str] = []
    checked = 0
    for module in _tree(context).modules:
        for call in ast.walk(module.tree):
            if not isinstance(call, ast.Call):
                continue
            name = module.qualname(call.func)
            if name not in CLIENT_CONSTRUCTORS and name not in REQUEST_FUNCTIONS:
                continue
            checked += 1
            timeout = keyword(call, "timeout")
            if timeout is None:
                why = "timeout hidden in **kwargs" if has_splat(call) else "no timeout="
                findings.append(f"{module.where(call)}: {name}(...) {why}")
            elif is_none(timeout.value):
                findings.append(f"{module.where(call)}: {name}(timeout=None) waits forever")
    return _result(findings, checked, "HTTP clients/calls", "have explicit timeouts")


def tls_verified(evidence: Any, context: GateContext) -> Outcome:
    """Nothing turns certificate verification off: ``verify=False``, ``ssl=False``,
    ``ssl._create_unverified_context``, ``CERT_NONE``, ``check_hostname = False``."""
    findings: list[str] = []
    clients = 0
    for module in _tree(context).modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call):
                name = module.qualname(node.func)
                clients += name in CLIENT_CONSTRUCTORS or name.endswith("Transport")
                for arg in ("verify", "ssl", "verify_ssl"):
                    kw = keyword(node, arg)
                    if kw is not None and is_false(kw.value):
                        findings.append(f"{module.where(node)}: {name}({arg}=False)")
                if name.endswith("_create_unverified_context"):
                    findings.append(f"{module.where(node)}: {name}() disables verification")
            elif isinstance(node, ast.Attribute) and node.attr == "CERT_NONE":
                findings.append(f"{module.where(node)}: ssl.CERT_NONE")
            elif isinstance(node, ast.Assign) and is_false(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "check_hostname":
                        findings.append(f"{module.where(node)}: check_hostname = False")
    if findings:
        findings.sort(key=_line_order)
        return Outcome.fail(f"{len(findings)} place(s) disable TLS verification", findings)
    if not clients:
        return Outcome.fail("no HTTP clients found", ["found no HTTP client to check"])
    return Outcome.ok(f"{clients} HTTP clients/transports, none disables verification")


def _line_order(finding: str) -> tuple[str, int]:
    file, _, rest = finding.partition(":")
    line = rest.split(":", 1)[0]
    return file, int(line) if line.isdigit() else 0


# ---- breaker_guards ----------------------------------------------------------------------

# A call "to a dependency" is any call whose callee name contains one of these words and
# whose arguments contain the dependency's URL path: ``client.post(...)``, and also a
# helper like legacy's ``post_json_with_retry(f"{base}/chat/completions", ...)``.
REQUEST_WORDS = ("get", "post", "put", "patch", "delete", "request", "send", "stream", "fetch")
DEFAULT_DEPENDENCIES = {"llm": "chat/completions", "memory": "memories"}
GUARD_WORDS = ("breaker", "circuit")


def breaker_guards(evidence: Any, context: GateContext) -> Outcome:
    """Every HTTP call to each dependency (found by its URL path, e.g. ``chat/completions``)
    runs inside a circuit breaker: a breaker decorator on an enclosing function, or the
    enclosing function handed to a breaker (directly, or to a policy object that holds one)."""
    dependencies: dict[str, str] = evidence.params.get("dependencies", DEFAULT_DEPENDENCIES)
    tree = _tree(context)
    findings: list[str] = []
    summary: list[str] = []
    ok = True
    for dependency, marker in dependencies.items():
        sites = _request_sites(tree, marker)
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
    return Outcome(ok, observed, findings[:MAX_DETAILS] + _more(findings))


def _request_sites(tree: SourceTree, marker: str) -> list[tuple[Module, ast.Call]]:
    sites = []
    for module in tree.modules:
        for call in ast.walk(module.tree):
            if not isinstance(call, ast.Call):
                continue
            callee = call.func.attr if isinstance(call.func, ast.Attribute) else (
                call.func.id if isinstance(call.func, ast.Name) else "")  # fmt: skip
            if not any(word in callee.lower() for word in REQUEST_WORDS):
                continue
            texts = [string_parts(a, module.constants) for a in call.args]
            texts += [string_parts(k.value, module.constants) for k in call.keywords if k.arg]
            if any(marker in text for text in texts):
                sites.append((module, call))
    return sites


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


# ---- traced_calls ------------------------------------------------------------------------

SPAN_WORDS = ("span", "observe", "trace")


def traced_calls(evidence: Any, context: GateContext) -> Outcome:
    """Every HTTP call to each dependency runs inside a tracing span (``with
    tracer.start_as_current_span(...)``, or a span/``@observe`` decorator on an enclosing
    function), so a slow request shows where its time went."""
    dependencies: dict[str, str] = evidence.params.get("dependencies", DEFAULT_DEPENDENCIES)
    tree = _tree(context)
    findings: list[str] = []
    summary: list[str] = []
    ok = True
    for dependency, marker in dependencies.items():
        sites = _request_sites(tree, marker)
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
    return Outcome(ok, "; ".join(summary), findings[:MAX_DETAILS] + _more(findings))


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


def _blocking(evidence: Any, context: GateContext) -> Outcome:
    from harness.evidence.blocking import blocking_calls_in_async

    return blocking_calls_in_async(evidence, context)


STATIC_CHECKS = {
    "blocking_calls_in_async": _blocking,
    "traced_calls": traced_calls,
    "async_rules": async_rules,
    "routes_rate_limited": routes_rate_limited,
    "http_timeouts": http_timeouts,
    "tls_verified": tls_verified,
    "breaker_guards": breaker_guards,
}
