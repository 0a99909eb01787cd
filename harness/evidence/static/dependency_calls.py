"""Where the target calls each dependency, found by the dependency's URL path (e.g.
``chat/completions``): what ``breaker_guards`` and ``traced_calls`` judge.

A call "to a dependency" is either

- a call whose callee name contains a request word and whose arguments contain the URL
  path: ``client.post(f"{base}/chat/completions", ...)``, or a helper such as legacy's
  ``post_json_with_retry(f"{base}/chat/completions", ...)``; or
- a call through an attribute an adapter bound to the URL once (refactored resolves each
  dependency's URL in ``__init__``: ``self._post = JsonPoster(client, endpoint(client,
  "chat/completions"), auth)``, then sends with ``self._post(body)``): a call of
  ``self.<attr>(...)``, or a request-word call taking ``self.<attr>`` (or a string made from
  it) as an argument, in
  the class that bound it. The binding may go through a local name of the same method.
"""

from __future__ import annotations

import ast

from harness.evidence.source import Module, SourceTree, string_parts

REQUEST_WORDS = ("get", "post", "put", "patch", "delete", "request", "send", "stream", "fetch")
DEFAULT_DEPENDENCIES = {"llm": "chat/completions", "memory": "memories"}


def request_sites(tree: SourceTree, marker: str) -> list[tuple[Module, ast.Call]]:
    """Every call to the dependency whose URL contains ``marker``, in source order."""
    sites = []
    for module in tree.modules:
        bound = _bound_attributes(module, marker)
        for call in ast.walk(module.tree):
            if not isinstance(call, ast.Call):
                continue
            if _names_url(module, call, marker) or _through_bound(module, call, bound):
                sites.append((module, call))
    return sites


def _callee(call: ast.Call) -> str:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else ""


def _is_request(call: ast.Call) -> bool:
    return any(word in _callee(call).lower() for word in REQUEST_WORDS)


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords if k.arg)]


def _names_url(module: Module, call: ast.Call, marker: str) -> bool:
    """A request-word call with the URL path in its arguments."""
    if not _is_request(call):
        return False
    return any(marker in string_parts(a, module.constants) for a in _arguments(call))


def _mentions(module: Module, node: ast.AST, marker: str, names: set[str]) -> bool:
    """``node`` or any expression inside it contributes ``marker`` to a string, or reads a
    local name bound to one that does."""
    return any(
        marker in string_parts(inner, module.constants)
        or (isinstance(inner, ast.Name) and inner.id in names)
        for inner in ast.walk(node)
    )


def _self_attribute(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return node.attr
    return None


def _bound_attributes(module: Module, marker: str) -> dict[ast.ClassDef, set[str]]:
    """Per class, the ``self.<attr>`` its methods assign a value mentioning ``marker``."""
    bound: dict[ast.ClassDef, set[str]] = {}
    for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
        attributes: set[str] = set()
        for method in cls.body:
            if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            local: set[str] = set()
            for node in ast.walk(method):
                if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                    continue
                if not _mentions(module, node.value, marker, local):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        local.add(target.id)
                    elif (attr := _self_attribute(target)) is not None:
                        attributes.add(attr)
        if attributes:
            bound[cls] = attributes
    return bound


def _through_bound(module: Module, call: ast.Call, bound: dict[ast.ClassDef, set[str]]) -> bool:
    """``self.<attr>(...)``, or a request-word call taking ``self.<attr>``, where the
    enclosing class bound ``<attr>`` to the dependency's URL."""
    if not bound:
        return False
    cls = next((s for s in module.enclosing(call) if isinstance(s, ast.ClassDef)), None)
    attributes = bound.get(cls) if cls is not None else None
    if not attributes:
        return False
    if _self_attribute(call.func) in attributes:
        return True
    return _is_request(call) and any(_url_argument(a, attributes) for a in _arguments(call))


def _url_argument(argument: ast.expr, attributes: set[str]) -> bool:
    """``self.<attr>`` itself or a string built from it (not a lambda or call that uses it:
    ``send(lambda: self._post(body))`` is one call to the dependency, the inner one)."""
    if isinstance(argument, ast.JoinedStr | ast.BinOp):
        return any(_self_attribute(inner) in attributes for inner in ast.walk(argument))
    return _self_attribute(argument) in attributes
