"""Request bodies (FastAPI validates them: bad input is a 422 with a clear message).

Every value a client sends must be storable and printable: text without NUL or unpaired
surrogates (PostgreSQL refuses NUL; a lone surrogate cannot be encoded to UTF-8), datetimes
from 2000 on whose UTC instant exists. The upper bound that depends on the clock (now plus
``CLOCK_SKEW_S``) is checked per request by the routes (``web/validation.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Far enough that any arithmetic on a stored instant stays representable; the real upper
# bound (now + CLOCK_SKEW_S) needs the clock and is checked by the route.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
WINDOW_RULE = "datetime must be on or after 2000-01-01T00:00:00Z and not in the future"


def clean_text(value: str) -> str:
    """Refuse NUL and unpaired UTF-16 surrogates (neither can be stored nor encoded)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must not contain unpaired surrogates") from None
    return value


def _utc(value: datetime) -> datetime:
    """A naive datetime is UTC (docs/conventions.md §4); its instant must lie in the sane window."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    try:
        instant = aware.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-10:00 is after datetime.max in UTC
        raise ValueError(WINDOW_RULE) from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(WINDOW_RULE)
    return aware


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Text = Annotated[str, AfterValidator(clean_text)]
Id = Annotated[Text, Field(min_length=1, max_length=128)]


class MessageIn(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=8000)
    ts: UtcDatetime


class EndConversationIn(BaseModel):
    conversation_id: Text = Field(min_length=1, max_length=64)
    user_id: Id
    agent_id: Id
    started_at: UtcDatetime
    ended_at: UtcDatetime
    messages: list[MessageIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _ended_after_start(self) -> EndConversationIn:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self


class SuggestActivitiesIn(BaseModel):
    user_id: Id
    agent_id: Id
    limit: int = Field(3, ge=1, le=10)


class NightlyIn(BaseModel):
    now: UtcDatetime | None = None
