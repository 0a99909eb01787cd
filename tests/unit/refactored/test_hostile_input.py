"""Hostile clients: every body or path a client can send gets 2xx or a clear 4xx, never 5xx.

Non-finite and out-of-range numbers, unpaired surrogates, NUL and datetimes outside
[2000-01-01, now + CLOCK_SKEW_S] are 422 with a body that is valid JSON; a value the
database refuses is 422 too (never 503 ``storage_unavailable`` nor a P0 card).
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy.exc as sa_exc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refactored.application.errors import InvalidInput, StorageUnavailable
from refactored.infrastructure.db.errors import storage_errors
from tests.unit.refactored.app_harness import (
    conversation,
    running,
    unit_overrides,
)
from tests.unit.refactored.fake_llm import FakeDependencies
from tests.unit.refactored.fakes import FixedClock, InMemoryStore, RecordingAlerts

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer secret-token"}
JSON = {"content-type": "application/json"}
SUGGEST = '{"user_id": "u1", "agent_id": "a1", "limit": %s}'


def end_body(**changes: Any) -> dict[str, Any]:
    body = conversation()
    for key, value in changes.items():
        if key == "ts":
            body["messages"][0]["ts"] = value
        elif key == "content":
            body["messages"][0]["content"] = value
        else:
            body[key] = value
    return body


def raw(body: dict[str, Any]) -> str:
    """JSON as a hostile client writes it: NaN/Infinity literals, lone surrogates escaped."""
    return json.dumps(body, allow_nan=True)


HOSTILE: list[tuple[str, str, str]] = [
    ("/v1/activities/suggest", SUGGEST % "NaN", "limit"),
    ("/v1/activities/suggest", SUGGEST % "Infinity", "limit"),
    ("/v1/activities/suggest", SUGGEST % "1e400", "limit"),
    ("/v1/activities/suggest", SUGGEST % "-1e400", "limit"),
    ("/v1/activities/suggest", SUGGEST % ("9" * 400), "limit"),
    ("/v1/activities/suggest", '{"user_id": "\\ud800", "agent_id": "a1"}', "user_id"),
    ("/v1/activities/suggest", '{"user_id": "u1", "agent_id": "a\\u0000"}', "agent_id"),
    ("/v1/conversations/end", raw(end_body(conversation_id="c\ud800")), "conversation_id"),
    ("/v1/conversations/end", raw(end_body(user_id="u\x00")), "user_id"),
    ("/v1/conversations/end", raw(end_body(content="hi \udfff there")), "content"),
    ("/v1/conversations/end", raw(end_body(content="nul \x00 inside")), "content"),
    ("/v1/conversations/end", raw(end_body(ts="9999-12-31T23:59:59-10:00")), "ts"),
    ("/v1/conversations/end", raw(end_body(ended_at="9999-12-31T23:59:59Z")), "ended_at"),
    ("/v1/conversations/end", raw(end_body(started_at="0001-01-01T00:00:00Z")), "started_at"),
    ("/v1/conversations/end", raw(end_body(started_at="1999-12-31T23:59:59Z")), "started_at"),
    ("/v1/conversations/end", raw(end_body(ended_at="2099-01-01T00:00:00Z")), "ended_at"),
    ("/v1/conversations/end", raw(end_body(ended_at=math.inf)), "ended_at"),
    # nested deeper than Python's recursion limit: the echoed input must not recurse
    ("/v1/activities/suggest", SUGGEST % ("[" * 900 + "]" * 900), "limit"),
    ("/v1/activities/suggest", SUGGEST % ('{"a":' * 900 + "1" + "}" * 900), "limit"),
    ("/v1/conversations/end", raw(end_body()).replace('"u1"', "[" * 900 + "]" * 900, 1), "user_id"),
    ("/v1/admin/nightly", '{"now": "0001-01-01T00:00:00Z"}', "now"),
    ("/v1/admin/nightly", '{"now": "9999-12-31T23:59:59-10:00"}', "now"),
    ("/v1/admin/nightly", '{"now": "2099-01-01T00:00:00Z"}', "now"),
]


@pytest.mark.parametrize(("path", "body", "field"), HOSTILE)
async def test_hostile_values_are_422_with_a_json_body_and_no_alert(
    path: str, body: str, field: str
) -> None:
    alerts = RecordingAlerts()
    overrides = unit_overrides(alerts=alerts, clock=FixedClock(NOW))
    async with running(FakeDependencies(), overrides) as (_, client):
        response = await client.post(path, content=body, headers={**JSON, **ADMIN})
    assert response.status_code == 422, response.text
    detail = json.loads(response.content.decode("utf-8"))["detail"]  # valid JSON, UTF-8
    assert any(field in error["loc"] for error in detail), detail
    assert alerts.alerts == []


@pytest.mark.parametrize("segment", ["u%00", "%00"])
async def test_nul_in_a_path_parameter_is_422(segment: str) -> None:
    async with running(FakeDependencies(), unit_overrides()) as (_, client):
        response = await client.get(f"/v1/friendships/{segment}/a1")
        valid = await client.get("/v1/friendships/u1/a%C3%A9")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]
    assert valid.status_code == 404  # a plain unknown friendship is still a 404


@pytest.mark.parametrize(
    ("skew_s", "ahead_s", "status"),
    [(300, 299, 200), (300, 301, 422), (0, 0, 200), (0, 1, 422), (3600, 3000, 200)],
)
async def test_the_future_bound_is_now_plus_clock_skew(
    skew_s: float, ahead_s: int, status: int
) -> None:
    ended = NOW + timedelta(seconds=ahead_s)
    body = end_body(ended_at=ended.isoformat())
    overrides = unit_overrides(clock=FixedClock(NOW))
    async with running(FakeDependencies(), overrides, clock_skew_s=skew_s) as (_, client):
        response = await client.post("/v1/conversations/end", json=body)
        nightly = await client.post(
            "/v1/admin/nightly", json={"now": ended.isoformat()}, headers=ADMIN
        )
    assert response.status_code == status, response.text
    assert nightly.status_code == status, nightly.text


async def test_a_value_refused_by_storage_is_422_not_an_outage() -> None:
    store, alerts = InMemoryStore(), RecordingAlerts()
    store.fail_with = InvalidInput("invalid value for storage: invalid byte sequence")
    async with running(FakeDependencies(), unit_overrides(store=store, alerts=alerts)) as (
        _,
        client,
    ):
        response = await client.post("/v1/conversations/end", json=conversation())
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"
    assert "Retry-After" not in response.headers
    assert alerts.alerts == []


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str | None, cls: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> Exception:
    return cls("SELECT 1", {}, _DriverError("refused", sqlstate))


@pytest.mark.parametrize(
    "exc",
    [
        _dbapi("22021"),  # character not in repertoire (NUL)
        _dbapi("22P02"),  # invalid text representation
        _dbapi("22008"),  # datetime field overflow
        _dbapi(None, sa_exc.DataError),
    ],
)
def test_data_errors_are_translated_to_invalid_input(exc: Exception) -> None:
    with pytest.raises(InvalidInput), storage_errors():
        raise exc


@pytest.mark.parametrize("sqlstate", ["08006", "57P01", None])
def test_other_database_errors_stay_storage_unavailable(sqlstate: str | None) -> None:
    with pytest.raises(StorageUnavailable), storage_errors():
        raise _dbapi(sqlstate, sa_exc.OperationalError)


# ---- property: any JSON body for the two POST endpoints gets a status < 500 ----------------

_chars = st.characters(exclude_categories=())  # surrogates and NUL included
_hostile_text = st.text(_chars, max_size=12)
_numbers = st.one_of(
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.just(10**400)
)
_dates = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-10:00", "0001-01-01T00:00:00+14:00", "2099-01-01"]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _hostile_text, _dates)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_hostile_text, inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[str, str]:
    path = draw(st.sampled_from(["/v1/conversations/end", "/v1/activities/suggest"]))
    if path == "/v1/conversations/end":
        body: Any = end_body()
        message = body["messages"][0]
        target = draw(st.sampled_from([body, body, message]))
    else:
        body = {"user_id": "u1", "agent_id": "a1", "limit": 3}
        target = body
    for key in draw(st.lists(st.sampled_from(sorted(target)), max_size=3)):
        target[key] = draw(_json)
    if draw(st.integers(0, 9)) == 0:
        body = draw(_json)  # not even an object
    return path, json.dumps(body, allow_nan=True)


def test_any_json_body_for_the_post_endpoints_is_answered_below_500() -> None:
    # Hypothesis drives a sync function: one event loop runs the app for every example.
    overrides = unit_overrides(clock=FixedClock(NOW))
    with asyncio.Runner() as loop:
        app = running(FakeDependencies(), overrides, rate_limit_enabled=False)
        _, client = loop.run(app.__aenter__())
        try:

            @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(_bodies())
            def check(request: tuple[str, str]) -> None:
                path, body = request
                response = loop.run(client.post(path, content=body, headers=JSON))
                assert response.status_code < 500, (body, response.text)
                json.loads(response.content.decode("utf-8"))

            check()
        finally:
            loop.run(app.__aexit__(None, None, None))


async def test_a_body_nested_beyond_the_parser_is_a_clear_400() -> None:
    """Deeper than json.loads can go: FastAPI's own 400, never a 500 or an alert."""
    alerts = RecordingAlerts()
    body = SUGGEST % ("[" * 100_000 + "]" * 100_000)
    async with running(FakeDependencies(), unit_overrides(alerts=alerts)) as (_, client):
        response = await client.post("/v1/activities/suggest", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "There was an error parsing the body"}
    assert alerts.alerts == []
