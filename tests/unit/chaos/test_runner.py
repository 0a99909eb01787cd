from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from chaos.scenarios import registry
from harness import chaos_run
from harness.chaos_run import ChaosUsageError, parse_targets, run_scenario
from harness.cli import app

from .helpers import endpoints

pytestmark = pytest.mark.unit


def test_targets_parse_in_a_stable_order() -> None:
    assert parse_targets("both") == ["legacy", "refactored"]
    assert parse_targets("refactored,legacy") == ["legacy", "refactored"]
    assert parse_targets("refactored") == ["refactored"]
    with pytest.raises(ChaosUsageError, match="choose both, legacy, refactored"):
        parse_targets("staging")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "llm_latency,nope"], "Valid: all, llm_latency"),
        (["--target", "staging"], "unknown target 'staging'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_before_booting(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["chaos", *args])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")


async def test_a_scenario_that_cannot_reach_its_target_is_invalid_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: object, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)
    result = await run_scenario(
        registry()["db_down"], "refactored", endpoints(), object(), "t1", 0.1
    )
    assert result.verdict == "invalid"
    assert result.expectations[0].name == "scenario_completed"
    assert "ConnectError" in result.notes[-1]


def _chaos_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, boot: Any) -> Result:
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))
    monkeypatch.setattr(chaos_run, "start_stack", boot)
    return CliRunner().invoke(
        app, ["chaos", "--scenario", "broker_down", "--log-dir", str(tmp_path / "logs")]
    )


def test_a_stack_that_cannot_start_exits_2_and_leaves_latest_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from testbed.stack_info import StackError

    def boot(group: object, config: object) -> object:
        raise StackError("port 127.0.0.1:41000 is in use: stop what listens there")

    result = _chaos_cli(monkeypatch, tmp_path, boot)
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "the stack did not start: port 127.0.0.1:41000 is in use" in output
    assert not (tmp_path / "latest").exists()  # compare and gate keep reading the last real run
    [written] = list(tmp_path.glob("*-chaos/results.json"))
    assert '"passed": false' in written.read_text()


def test_a_run_where_every_scenario_was_skipped_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boot(group: object, config: object) -> object:  # no broker: broker_down is skipped
        return SimpleNamespace(amqp_url=None, targets={"legacy": None, "refactored": None})

    result = _chaos_cli(monkeypatch, tmp_path, boot)
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "nothing ran" in output and "AMQP_URL is unset" in output
    assert "FAILED" in output
