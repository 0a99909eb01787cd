"""The one list of fields that legitimately differ between two runs (calibrated: legacy x2)."""

from __future__ import annotations

# columns dropped from the DB snapshot, per table
DB_NOISE: dict[str, frozenset[str]] = {
    # summary_updated_at is contracted: both versions stamp the nightly's `now`
    "friendships": frozenset({"created_at", "updated_at"}),
    "topic_metrics": frozenset({"created_at", "updated_at"}),
    "processed_conversations": frozenset(
        {
            "processed_at",
            "created_at",
            "updated_at",
            # refactored only: the nightly re-score bookkeeping
            "rescore_status",
            "rescore_input",
            "score_correction",
            "rescored_at",
        }
    ),
}
# response fields that are not part of the contract
RESPONSE_NOISE: frozenset[str] = frozenset()
# Deliberate differences: the refactor changed the behaviour on purpose and legacy keeps its bug.
# Generated replay traffic never triggers one (test_replay asserts it), and a dedicated
# test proves each differs exactly as named here and nowhere else.
KNOWN_DIFFERENCES: dict[str, str] = {
    "idempotency_per_owner": (
        "docs/conventions.md §4: refactored keys idempotency on "
        "(user_id, agent_id, conversation_id); "
        "legacy on conversation_id alone (kept bug, issue 11): another owner's conversation "
        "with an id already used gets the first owner's stored answer and is never scored "
        "(contracts/owner_reuse.py)"
    ),
}
