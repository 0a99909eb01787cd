"""The app factory and the edges that need no database: 413, 401, /health."""

from __future__ import annotations

import httpx
import pytest

from legacy.config import MissingSettingError
from legacy.main import create_app

pytestmark = pytest.mark.unit


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("LLM_BASE_URL", "http://llm.test")
    monkeypatch.setenv("MEMORY_API_URL", "http://memory.test")
    monkeypatch.setenv("NIGHTLY_SCHEDULER_ENABLED", "false")


def client() -> httpx.AsyncClient:
    # No lifespan: nothing below touches the database.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://t")


def test_missing_setting_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(MissingSettingError, match="DATABASE_URL is not set"):
        create_app()


@pytest.mark.usefixtures("env")
async def test_health_touches_nothing() -> None:
    async with client() as c:
        response = await c.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.usefixtures("env")
async def test_body_over_one_mib_is_413_by_header_and_by_stream() -> None:
    big = b"x" * (1024 * 1024 + 1)

    async def stream():
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    async with client() as c:
        by_header = await c.post("/v1/conversations/end", content=big)
        by_stream = await c.post("/v1/conversations/end", content=stream())
    for response in (by_header, by_stream):
        assert response.status_code == 413
        assert response.json() == {"detail": "request body exceeds 1048576 bytes"}


@pytest.mark.usefixtures("env")
async def test_admin_needs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret")
    async with client() as c:
        missing = await c.post("/v1/admin/nightly")
        wrong = await c.post("/v1/admin/nightly", headers={"Authorization": "Bearer admin"})
    for response in (missing, wrong):
        assert (response.status_code, response.json()) == (401, {"detail": "invalid admin token"})
