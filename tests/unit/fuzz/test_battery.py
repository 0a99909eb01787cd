"""The battery builder: each hostile input is really in the bytes that will be sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from harness.fuzz.battery import ADMIN, END, MAX_BODY, SUGGEST, build_battery
from harness.fuzz.model import FuzzRequest
from harness.fuzz.raw import deep_list, raw_json

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def battery() -> dict[str, FuzzRequest]:
    requests = build_battery(NOW, "t")
    by_name = {r.name: r for r in requests}
    assert len(by_name) == len(requests), "every battery request has its own name"
    return by_name


def test_raw_json_writes_the_literal_text_at_the_path() -> None:
    body = raw_json({"a": 1, "b": [{"c": 2}]}, {("a",): "NaN", ("b", 0, "c"): '"\\ud800"'})
    assert body == b'{"a":NaN,"b":[{"c":"\\ud800"}]}'


def test_lone_surrogate_is_a_raw_json_escape_that_decodes_to_the_lone_code_point(
    battery: dict[str, FuzzRequest],
) -> None:
    body = battery["lone high surrogate in user_id"].body
    assert body is not None
    assert b'"user_id":"\\ud800"' in body  # the six characters \ud800, as a client sends
    assert json.loads(body)["user_id"] == "\ud800"  # a lone surrogate, not encodable to UTF-8
    with pytest.raises(UnicodeEncodeError):
        json.loads(body)["user_id"].encode("utf-8")
    assert b'"\\udfff"' in (battery["lone low surrogate in content"].body or b"")


def test_nul_in_body_ids_and_in_the_url_path(battery: dict[str, FuzzRequest]) -> None:
    for field in ("conversation_id", "user_id", "agent_id"):
        body = battery[f"NUL in {field}"].body or b""
        assert "\x00" in json.loads(body)[field]
    assert "%00" in battery["path user_id NUL"].path
    assert battery["path agent_id NUL"].path.endswith("/%00")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_limits_are_literal_json_numbers(
    battery: dict[str, FuzzRequest], literal: str
) -> None:
    request = battery[f"limit={literal}"]
    assert request.path == SUGGEST
    assert f'"limit":{literal}}}'.encode() in (request.body or b"")


def test_huge_and_negative_limits(battery: dict[str, FuzzRequest]) -> None:
    digits = battery["limit=99999999999999999999"].body or b""  # the name is cut at 20
    assert b'"limit":' + b"9" * 5000 + b"}" in digits  # past Python's int-parsing limit
    with pytest.raises(ValueError, match="4300 digits"):
        json.loads(digits)
    assert json.loads(battery["limit=10000000000000000000"].body or b"")["limit"] == 10**29
    assert json.loads(battery["limit=-1"].body or b"")["limit"] == -1


def test_the_whole_conversation_moves_to_each_extreme_datetime(
    battery: dict[str, FuzzRequest],
) -> None:
    for value in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59-10:00", "2099-01-01T00:00:00Z"):
        body = json.loads(battery[f"all datetimes {value}"].body or b"")
        assert body["started_at"] == body["ended_at"] == value
        assert {m["ts"] for m in body["messages"]} == {value}
    ts_only = json.loads(battery["message ts 1970-01-01T00:00:00Z"].body or b"")
    assert ts_only["messages"][0]["ts"] == "1970-01-01T00:00:00Z"
    assert ts_only["ended_at"] == "2026-12-04T12:00:00Z"  # the rest stays valid


def test_sizes_over_the_limits(battery: dict[str, FuzzRequest]) -> None:
    assert len(battery["body over 1 MiB"].body or b"") > MAX_BODY
    assert len(battery["content over 1 MiB"].body or b"") > MAX_BODY
    assert len(json.loads(battery["messages: 501"].body or b"")["messages"]) == 501
    assert json.loads(battery["messages: 0"].body or b"")["messages"] == []
    content = json.loads(battery["content: 8001 chars"].body or b"")["messages"][0]["content"]
    assert len(content) == 8001


def test_deep_nesting_and_invalid_json(battery: dict[str, FuzzRequest]) -> None:
    assert battery["deep list body (100000)"].body == deep_list(100_000)
    assert (battery["deep list body (100000)"].body or b"").startswith(b"[" * 1000)
    with pytest.raises(json.JSONDecodeError):
        json.loads(battery["truncated JSON"].body or b"")
    assert battery["empty body"].body == b""
    assert battery["content-type text/plain"].headers == {"content-type": "text/plain"}
    assert battery["no content-type"].headers == {}


def test_the_admin_route_is_never_called_with_a_token_that_could_be_valid(
    battery: dict[str, FuzzRequest],
) -> None:
    admin = [r for r in battery.values() if r.path == ADMIN]
    assert len(admin) >= 6
    assert any("authorization" not in r.headers for r in admin)
    tokens = {r.headers.get("authorization") for r in admin} - {None}
    assert "Bearer wrong" in tokens


def test_every_conversation_has_its_own_id(battery: dict[str, FuzzRequest]) -> None:
    ids = []
    for r in battery.values():
        if r.path != END or not r.body:
            continue
        try:
            body = json.loads(r.body)
        except (ValueError, RecursionError):
            continue
        if isinstance(body, dict) and str(body.get("conversation_id", "")).startswith("fz-t-"):
            ids.append(body["conversation_id"])
    assert len(ids) > 30 and len(set(ids)) == len(ids)
