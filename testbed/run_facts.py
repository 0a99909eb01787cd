"""What a run records about where it ran (``RunResults.environment``): the machine, the
source tree it tested (``testbed.provenance``, which the gate compares with its own) and
the PostgreSQL server's connection limits (the gate's ``pool_budget``).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from testbed.postgres import PostgresUnavailableError, connection_limits
from testbed.provenance import ProvenanceError, provenance


def git_facts() -> dict[str, Any]:
    """What the run tested (``testbed.provenance``): the source tree's hash, committed or
    not, which the gate compares with the tree it runs on, and the commit for people."""
    try:
        return provenance().to_facts()
    except ProvenanceError as exc:  # the run goes on; the gate will call it stale
        return {"source_tree_error": str(exc)}


def database_facts(database_url: str) -> dict[str, Any]:
    """The PostgreSQL server's connection limits, for the gate's ``pool_budget``: the gate
    may run after the server is gone (the embedded one stops with the stack). Never raises:
    a fact that cannot be read is recorded as ``max_connections_error``."""
    try:
        max_connections, reserved = connection_limits(database_url)
    except Exception as exc:  # ImportError, psycopg2.Error, a bad answer: the run goes on
        error: BaseException = exc
        if isinstance(exc, PostgresUnavailableError) and exc.__cause__ is not None:
            error = exc.__cause__  # the driver's own error, without the stack-boot advice
        return {"max_connections_error": f"{type(error).__name__}: {error}".strip()[:300]}
    return {"max_connections": max_connections, "superuser_reserved_connections": reserved}


def environment_facts(**extra: Any) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **git_facts(),
        **extra,
    }
