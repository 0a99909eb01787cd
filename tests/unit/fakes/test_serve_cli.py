"""The ``python -m doubles.fakes.<kind>`` command line."""

from __future__ import annotations

import pytest

from doubles.fakes.llm import create_app
from doubles.fakes.serve import main

pytestmark = pytest.mark.unit


def test_port_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main("llm", create_app, ["--host", "127.0.0.1"])
    assert exit_info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_port_must_be_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main("llm", create_app, ["--port", "eighty"])
    assert "invalid int value" in capsys.readouterr().err
