"""Request bodies (FastAPI validates them: bad input is a 422 with a clear message)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator


def _utc(value: datetime) -> datetime:
    """A naive datetime is UTC (conventions §4)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Id = Annotated[str, Field(min_length=1, max_length=128)]


class MessageIn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)
    ts: UtcDatetime


class EndConversationIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=64)
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
