"""Legacy keeps its global idempotency key on the migrated schema (0002): a kept bug.

Schema 0002 keys processed_conversations per owner for refactored; legacy still answers a
second owner's conversation with the first owner's stored result and never scores it, in
sequence and when the two race (the advisory lock in ``save_conversation`` does what the
old unique key did).
"""

from __future__ import annotations

import httpx
import pytest

from legacy.db import make_engine, make_session_factory
from legacy.schemas import ConversationEndRequest
from legacy.services.conversation_service import find_processed_response, save_conversation
from tests.integration.legacy.conftest import conversation
from tests.integration.legacy.test_api import db_rows

pytestmark = pytest.mark.integration

END = "/v1/conversations/end"


async def test_a_second_owner_gets_the_first_owners_answer_and_is_not_scored(
    api: httpx.AsyncClient, database_url: str
) -> None:
    first = (await api.post(END, json=conversation("shared", user_id="u1"))).json()
    second = await api.post(END, json=conversation("shared", user_id="u2", user_messages=1))
    assert second.status_code == 200
    assert second.json() == first, "legacy bug kept: another owner's stored answer"
    assert (await api.get("/v1/friendships/u2/a1")).status_code == 404, "never scored"
    rows = db_rows(database_url, "SELECT user_id FROM processed_conversations")
    assert rows == [{"user_id": "u1"}]


async def test_two_owners_racing_with_one_id_still_write_once(
    api: httpx.AsyncClient, legacy_env: dict[str, str], database_url: str
) -> None:
    engine = make_engine(legacy_env["DATABASE_URL"])
    sessions = make_session_factory(engine)
    analysis = {"emotion": "positive", "user_questions": 1, "topics": ["food"]}
    bodies = [
        ConversationEndRequest.model_validate(conversation("race", user_id=u)).model_dump()
        for u in ("u1", "u2")
    ]
    try:
        with sessions() as loser, sessions() as winner:
            assert find_processed_response(loser, "race") is None  # both passed the check
            won, written = save_conversation(winner, bodies[0], analysis, [])
            assert written
            lost, lost_written = save_conversation(loser, bodies[1], analysis, [])
    finally:
        engine.dispose()
    assert not lost_written
    assert lost == won and lost["user_id"] == "u1", "the loser answers the winner's result"
    rows = db_rows(database_url, "SELECT user_id FROM processed_conversations")
    assert rows == [{"user_id": "u1"}]
    assert (await api.get("/v1/friendships/u2/a1")).status_code == 404, "rolled back"
