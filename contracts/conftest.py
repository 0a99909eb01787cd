"""Contract tier: the run report, and the shared fixtures of tests/conftest.py.

Profiles: contracts/profiles.py (CONTRACTS_PROFILE=fast|deep).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from contracts.report import RUN, write_report
from testbed.provenance import ProvenanceError, provenance
from tests.conftest import database_url, pg_admin_url, processes, session_processes

__all__ = ["database_url", "pg_admin_url", "processes", "session_processes"]


@pytest.fixture(scope="session", autouse=True)
def contract_report() -> Iterator[None]:
    started = time.monotonic()
    try:  # the tree compared, hashed before any test runs (the gate matches it)
        RUN.provenance = dict(provenance().to_facts())
    except ProvenanceError as exc:
        RUN.provenance = {"source_tree_error": str(exc)}
    yield
    run_dir = write_report(RUN, time.monotonic() - started)
    if run_dir is not None:
        print(f"\ncontract report: {run_dir}")
