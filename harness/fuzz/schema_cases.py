"""Schemathesis over a target's OpenAPI: positive and negative cases per operation.

Schemathesis is used as a library (4.x API): ``schemathesis.openapi.from_dict`` on the
schema the running target serves at ``/openapi.json``, then, per operation and generation
mode, ``operation.as_strategy(mode)`` drawn with Hypothesis. Generation runs first and
sends nothing; the runner sends the cases (paced over several source addresses), so
Hypothesis never sees I/O and a seed replays the same cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from harness.fuzz.model import FuzzRequest

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
PLACEHOLDER_BASE = "http://fuzz.invalid"  # cases are built against it, then sent elsewhere
DROPPED_HEADERS = {"authorization", "cookie"}  # the fuzz never authenticates (admin route)


@dataclass
class Generated:
    """The cases of one schema, and per operation/mode what could not be generated."""

    requests: list[FuzzRequest] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    not_generated: dict[str, str] = field(default_factory=dict)  # "GET /health negative": why


def _draw(strategy: Any, examples: int, at_seed: int) -> list[Any]:
    drawn: list[Any] = []

    @seed(at_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(strategy)
    def collect(case: Any) -> None:
        drawn.append(case)

    collect()
    return drawn


def to_request(case: Any, label: str) -> FuzzRequest:
    """A Schemathesis case as the exact request the fuzz sends (body serialised once)."""
    kwargs = case.as_transport_kwargs(base_url=PLACEHOLDER_BASE)
    url = urlsplit(kwargs["url"])
    path = url.path  # the query travels in ``query`` (Schemathesis keeps it in "params")
    headers = {
        str(k): str(v)
        for k, v in (kwargs.get("headers") or {}).items()
        if str(k).lower() not in DROPPED_HEADERS
    }
    body: bytes | None = None
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()  # ASCII: lone surrogates as \ud800 escapes
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    query = {str(k): str(v) for k, v in (kwargs.get("params") or {}).items()}
    method = str(kwargs["method"]).upper()
    return FuzzRequest("schemathesis", label, method, path, body, headers, query)


def generate(spec: dict[str, Any], examples: int, at_seed: int = 0) -> Generated:
    """Up to ``examples`` positive and ``examples`` negative cases per operation of ``spec``."""
    out = Generated()
    schema = schemathesis.openapi.from_dict(spec)
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation Schemathesis cannot read: say which
            out.not_generated[f"operation #{len(out.operations)}"] = str(result.err())[:200]
            continue
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        out.operations.append(name)
        for mode in MODES:
            label = f"{name} {mode.value}"
            try:
                cases = _draw(operation.as_strategy(generation_mode=mode), examples, at_seed)
            except Unsatisfiable:  # e.g. no parameter to make negative (GET /health)
                out.not_generated[label] = "nothing to generate in this mode"
                continue
            out.requests += [to_request(case, label) for case in cases]
    return out
