"""The fake Memory API store and the fake webhook's card recording."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from doubles.fakes.webhook import card_level, card_title

pytestmark = pytest.mark.unit


def memories_request(user_id: str, *texts: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": text} for text in texts]
    messages.append({"role": "assistant", "content": "I like travel and games too"})
    return {"user_id": user_id, "agent_id": "a1", "messages": messages}


async def test_memory_add_then_none(memory_client: httpx.AsyncClient) -> None:
    body = memories_request("u1", "I cook pizza", "tôi thích âm nhạc")
    first = (await memory_client.post("/v1/memories/", json=body)).json()
    food_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "u1/a1/User talks about food"))
    assert first == {
        "results": [
            {"id": food_id, "memory": "User talks about food", "event": "ADD"},
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "u1/a1/User talks about music")),
                "memory": "User talks about music",
                "event": "ADD",
            },
        ]
    }
    again = (await memory_client.post("/v1/memories/", json=body)).json()
    assert [r["event"] for r in again["results"]] == ["NONE", "NONE"]
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    other_user = await memory_client.post("/v1/memories/", json=memories_request("u2", "pizza"))
    assert other_user.json()["results"][0]["event"] == "ADD"
    await memory_client.post("/_control/reset")
    after_reset = (await memory_client.post("/v1/memories/", json=body)).json()
    assert [r["event"] for r in after_reset["results"]] == ["ADD", "ADD"]


async def test_memory_without_topics_and_bad_bodies(memory_client: httpx.AsyncClient) -> None:
    empty = await memory_client.post("/v1/memories/", json=memories_request("u1", "hello"))
    assert empty.json() == {"results": []}
    bad = await memory_client.post("/v1/memories/", json={"user_id": "u1"})
    assert bad.status_code == 400
    assert "agent_id" in bad.json()["error"]["message"]


def card(title: str) -> dict[str, Any]:
    return {
        "cards": [
            {
                "header": {"title": title, "subtitle": "Context Handling Module Alert"},
                "sections": [{"widgets": [{"textParagraph": {"text": "<b>Message:</b> x"}}]}],
            }
        ]
    }


async def test_webhook_records_cards_with_levels(webhook_client: httpx.AsyncClient) -> None:
    await webhook_client.post("/", json=card("[P0] Database down"))
    await webhook_client.post("/v1/spaces/AAA/messages?key=k&token=t", json=card("[P2] Fallback"))
    await webhook_client.post("/v1/spaces/AAA/messages", json={"text": "plain message"})
    recorded = (await webhook_client.get("/_control/cards")).json()
    assert recorded["count"] == 3
    assert [(c["level"], c["title"]) for c in recorded["cards"]] == [
        ("P0", "[P0] Database down"),
        ("P2", "[P2] Fallback"),
        (None, "plain message"),
    ]
    assert recorded["cards"][0]["body"] == card("[P0] Database down")
    assert recorded["cards"][0]["received_at"].endswith("+00:00")
    await webhook_client.post("/_control/reset")
    assert (await webhook_client.get("/_control/cards")).json() == {"count": 0, "cards": []}


async def test_webhook_does_not_record_a_post_it_failed(webhook_client: httpx.AsyncClient) -> None:
    await webhook_client.put("/_control/faults", json={"error": {"status": 500}})
    assert (await webhook_client.post("/", json=card("[P1] storm"))).status_code == 500
    assert (await webhook_client.get("/_control/cards")).json()["count"] == 0
    assert (await webhook_client.post("/", content=b"nope")).status_code == 500
    await webhook_client.delete("/_control/faults")
    assert (await webhook_client.post("/", content=b"nope")).status_code == 400
    stats = (await webhook_client.get("/_control/stats")).json()
    assert stats["calls_total"] == 3
    assert stats["responses_by_status"] == {"500": 2, "400": 1}


@pytest.mark.parametrize(
    ("title", "level"),
    [("[P0] x", "P0"), ("[P1] x", "P1"), ("[P2]x", "P2"), ("P0 x", None), ("[P3] x", None)],
)
def test_card_level_from_title_prefix(title: str, level: str | None) -> None:
    assert card_level(title) == level


def test_card_title_of_v2_cards() -> None:
    assert card_title({"cardsV2": [{"card": {"header": {"title": "[P1] t"}}}]}) == "[P1] t"
    assert card_title({"cards": [{}]}) is None
