"""The server's event loop: uvloop's when it is installed, asyncio's otherwise."""

from __future__ import annotations

import sys

import pytest

from doubles.toxiproxy.__main__ import loop_factory

pytestmark = pytest.mark.unit


def test_uvloop_is_used_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory() is uvloop.new_event_loop


def test_asyncio_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert loop_factory() is None
