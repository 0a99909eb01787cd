"""Verdicts, fuzz.json and fuzz.md; the admin-token guard; Schemathesis cases as requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.fuzz.model import FuzzRequest, Outcome, safe_body
from harness.fuzz.report import FUZZ_JSON, FUZZ_MD, TargetFuzz, run_passed, write_fuzz
from harness.fuzz.schema_cases import generate
from harness.fuzz.sender import carries_token

pytestmark = pytest.mark.unit

GET = FuzzRequest("schemathesis", "GET /health positive", "GET", "/health")
NAN = FuzzRequest("battery", "limit=NaN", "POST", "/v1/activities/suggest", b'{"limit":NaN}')
P0 = {"level": "P0", "title": "[P0] Internal server error (500)", "body": {"text": "x"}}
P2 = {"level": "P2", "title": "[P2] fallback used", "body": {}}


def target(name: str, statuses: list[int | None], cards: list[dict[str, Any]]) -> TargetFuzz:
    outcomes = [
        Outcome(NAN if s == 500 else GET, s, None if s else "ReadTimeout") for s in statuses
    ]
    return TargetFuzz(name, "http://lb", outcomes, cards, expected_to_pass=name == "refactored")


def test_a_target_passes_with_4xx_and_429_but_no_5xx_no_p0() -> None:
    assert target("refactored", [200, 404, 422, 413, 429], [P2]).passed


@pytest.mark.parametrize(
    ("statuses", "cards", "reason"),
    [
        ([200, 500], [], "1 5xx answer(s)"),
        ([200, 502], [], "1 5xx answer(s)"),
        ([200, None], [], "1 request(s) without an answer"),
        ([200, 422], [P0], "1 P0 alert card(s)"),
    ],
)
def test_a_target_fails_on_5xx_unanswered_or_p0(
    statuses: list[int | None], cards: list[dict[str, Any]], reason: str
) -> None:
    result = target("refactored", statuses, cards)
    assert not result.passed and result.reasons() == [reason]


def test_a_request_the_client_would_not_send_fails_nothing() -> None:
    refused = Outcome(GET, None, "LocalProtocolError: Illegal header value", sent=False)
    result = TargetFuzz("refactored", "http://lb", [Outcome(GET, 200), refused])
    assert result.passed and result.to_dict()["status_counts"]["schemathesis"] == {
        "200": 1,
        "not sent": 1,
    }


def test_nothing_sent_is_no_pass() -> None:
    assert not TargetFuzz("refactored", "http://lb").passed


def test_the_run_fails_only_when_refactored_does() -> None:
    legacy_fails = target("legacy", [500], [P0])
    assert run_passed([legacy_fails, target("refactored", [200], [])])
    assert not run_passed([legacy_fails, target("refactored", [500], [])])
    assert not run_passed([])


def test_fuzz_json_and_md_show_each_5xx_with_its_request(tmp_path: Path) -> None:
    legacy = target("legacy", [200, 500, 429, None], [P0, P2])
    refactored = target("refactored", [200, 422, 429], [])
    path = write_fuzz(tmp_path, {"run_id": "r1", "kind": "fuzz"}, [legacy, refactored])
    assert path == tmp_path / FUZZ_JSON
    data = json.loads(path.read_text())
    assert data["passed"] is True and data["run_id"] == "r1"
    got = data["targets"]["legacy"]
    assert got["verdict"] == "fail" and got["expected_to_pass"] is False
    assert got["requests"] == {"schemathesis": 3, "battery": 1, "total": 4}
    assert got["status_counts"]["schemathesis"] == {"200": 1, "429": 1, "no answer": 1}
    assert got["rate_limited_429"] == {"schemathesis": 1, "battery": 0}
    [error] = got["server_errors"]
    assert error["status"] == 500
    assert error["request"] == {
        "source": "battery",
        "name": "limit=NaN",
        "method": "POST",
        "path": "/v1/activities/suggest",
        "body": '{"limit":NaN}',
    }
    assert error["previous"] == {"name": "GET /health positive", "status": "200"}
    assert [c["title"] for c in got["p0_cards"]] == ["[P0] Internal server error (500)"]
    assert got["cards_by_level"] == {"P0": 1, "P2": 1}
    assert data["targets"]["refactored"]["verdict"] == "pass"
    md = (tmp_path / FUZZ_MD).read_text()
    assert "| legacy | fail (expected) | 3 / 1 | 1 | 1 | 1 | 1 |" in md
    assert "| refactored | pass | 3 / 0 | 0 | 0 | 1 | 0 |" in md
    assert "**500** battery `limit=NaN`: POST `/v1/activities/suggest`" in md
    assert "(after `GET /health positive`)" in md


def test_safe_body_escapes_control_bytes_and_truncates() -> None:
    assert safe_body(b'{"a":"\x00\xff"}') == '{"a":"\\x00\\xff"}'
    assert safe_body(None) is None
    long = safe_body(b"x" * 1000, limit=10)
    assert long == "xxxxxxxxxx... (1000 bytes)"


def test_the_admin_token_is_found_in_headers_path_query_and_body() -> None:
    token = "s3cret-admin-token"

    def post(headers: dict[str, str]) -> FuzzRequest:
        return FuzzRequest("battery", "h", "POST", "/x", None, headers)

    assert carries_token(post({"authorization": f"Bearer {token}"}), token)
    assert carries_token(FuzzRequest("battery", "p", "GET", f"/v1/friendships/{token}/a"), token)
    assert carries_token(FuzzRequest("battery", "b", "POST", "/x", token.encode()), token)
    assert carries_token(FuzzRequest("battery", "q", "GET", "/x", query={"t": token}), token)
    assert not carries_token(post({"authorization": "Bearer wrong"}), token)
    assert not carries_token(GET, "")


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/v1/activities/suggest": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["user_id"],
                                "properties": {
                                    "user_id": {"type": "string", "minLength": 1},
                                    "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


def test_schemathesis_cases_become_requests_positive_and_negative_and_replay_by_seed() -> None:
    first = generate(SPEC, examples=5, at_seed=1)
    assert first.operations == ["GET /health", "POST /v1/activities/suggest"]
    assert first.not_generated == {"GET /health negative": "nothing to generate in this mode"}
    names = {r.name for r in first.requests}
    assert names == {
        "GET /health positive",
        "POST /v1/activities/suggest positive",
        "POST /v1/activities/suggest negative",
    }
    for request in first.requests:
        assert request.source == "schemathesis" and request.path.startswith("/")
        assert "authorization" not in {k.lower() for k in request.headers}
    positive = [r for r in first.requests if r.name.endswith("suggest positive")]
    assert all(json.loads(r.body or b"")["user_id"] for r in positive)
    again = generate(SPEC, examples=5, at_seed=1)
    assert [r.body for r in again.requests] == [r.body for r in first.requests]
