"""Where a run is written: ``reports/<run-id>/``, its id sortable and readable.

``REPORTS_DIR`` (default ``reports``) is a harness setting (``testbed.settings``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from testbed.settings import harness_settings


def reports_dir() -> Path:
    """Where runs are written: ``REPORTS_DIR`` or ``./reports`` (``testbed.settings``)."""
    return harness_settings().reports_dir


def new_run_id(kind: str) -> str:
    """Sortable and readable: ``20261122-210501-chaos``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{re.sub(r'[^a-z0-9_-]+', '-', kind.lower())}"


def new_run_dir(kind: str, base: Path | None = None) -> Path:
    """Create ``reports/<run-id>/`` (unique even for two runs in the same second)."""
    base = base or reports_dir()
    base.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id(kind)
    candidate, n = base / run_id, 1
    while candidate.exists():
        n += 1
        candidate = base / f"{run_id}-{n}"
    candidate.mkdir()
    return candidate
