"""async_rules runs ruff as a child process: the project's ignores and noqa cannot hide findings."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.checklist import Checklist, StaticEvidence
from harness.evidence.base import GateContext, Outcome
from harness.evidence.static import async_rules

pytestmark = pytest.mark.integration

BLOCKING = """
import time
import httpx

client = httpx.Client(timeout=5)

async def handler():
    time.sleep(1)  # noqa: ASYNC251
    return client.post("http://llm/chat/completions")
"""
CLEAN = """
import asyncio

async def handler():
    await asyncio.sleep(0)
"""
# what the project's own configuration does for legacy: ignore ASYNC in the package
PYPROJECT = """
[tool.ruff.lint]
select = ["ASYNC"]
[tool.ruff.lint.per-file-ignores]
"svc/**" = ["ASYNC"]
"""


def check(tmp_path: Path, source: str) -> Outcome:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "app.py").write_text(textwrap.dedent(source))
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    checklist = Checklist.model_validate(
        {
            "targets": {"svc": {"package": "svc", "app_factory": "svc:app"}},
            "items": [{"id": "H1", "title": "t", "why": "w",
                       "evidence": [{"kind": "static", "check": "async_rules"}]}],
        }
    )  # fmt: skip
    context = GateContext(
        repo_root=tmp_path, target="svc", spec=checklist.targets["svc"], checklist=checklist,
        reports_dir=tmp_path / "reports", max_age_hours=24, now=datetime.now(UTC),
        head_commit=None, head_commit_time=None, time_scale=1.0, env={},
    )  # fmt: skip
    return async_rules(StaticEvidence(kind="static", check="async_rules"), context)


def test_blocking_calls_are_found_despite_ignores_and_noqa(tmp_path: Path) -> None:
    outcome = check(tmp_path, BLOCKING)
    assert not outcome.passed
    assert outcome.observed == "ruff ASYNC: 2 findings (ASYNC212, ASYNC251)"
    assert outcome.details[0].startswith("svc/app.py:8: ASYNC251")


def test_clean_async_code_passes(tmp_path: Path) -> None:
    outcome = check(tmp_path, CLEAN)
    assert outcome.passed
    assert outcome.observed == "ruff ASYNC: 0 findings in 1 files"
