"""``http_timeouts`` (every HTTP client or request names an explicit timeout) and
``tls_verified`` (nothing turns certificate verification off)."""

from __future__ import annotations

import ast
from typing import Any

from harness.evidence.base import GateContext, Outcome
from harness.evidence.source import has_splat, is_false, is_none, keyword
from harness.evidence.static.common import result, source_tree

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
    for module in source_tree(context).modules:
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
    return result(findings, checked, "HTTP clients/calls", "have explicit timeouts")


def tls_verified(evidence: Any, context: GateContext) -> Outcome:
    """Nothing turns certificate verification off: ``verify=False``, ``ssl=False``,
    ``ssl._create_unverified_context``, ``CERT_NONE``, ``check_hostname = False``."""
    findings: list[str] = []
    clients = 0
    for module in source_tree(context).modules:
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
