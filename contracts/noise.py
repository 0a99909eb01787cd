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
# tables only one version writes: never compared
IGNORED_TABLES = frozenset({"outbox_events", "alembic_version"})
# response fields that are not part of the contract
RESPONSE_NOISE: frozenset[str] = frozenset()
