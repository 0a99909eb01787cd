from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from chaos.runner import ChaosUsageError, parse_targets, run_scenario
from chaos.scenarios import registry
from harness.cli import app

from .helpers import FakeEndpoints

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
        (["--target", "staging"], "unknown target staging"),
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
        registry()["db_down"], "refactored", FakeEndpoints(), object(), "t1", 0.1
    )
    assert result.verdict == "invalid"
    assert result.expectations[0].name == "scenario_completed"
    assert "ConnectError" in result.notes[-1]
