"""``python -m harness fuzz``: bad input exits 2 before anything boots."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "staging"],
        ["--target", "legacy", "--via", "dns"],
        ["--target", "both", "--examples", "0"],
        ["--target", "both", "--max-seconds", "0"],
    ],
)
def test_bad_input_exits_2_and_boots_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    result = CliRunner().invoke(app, ["fuzz", *args, "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "reports").exists()  # no run directory for a run that never ran


def test_fuzz_examples_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUZZ_EXAMPLES", "many")
    result = CliRunner().invoke(app, ["fuzz", "--target", "legacy"])
    assert result.exit_code == 2
    assert "FUZZ_EXAMPLES='many' is not a number" in result.output
