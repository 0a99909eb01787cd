"""Request bodies; FastAPI turns a validation failure into a 422 naming the bad field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator


def _assume_utc(value: datetime) -> datetime:
    """A naive datetime is UTC (docs/conventions.md §4)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)
    ts: UtcDatetime


class ConversationEndRequest(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=64)
    user_id: Identifier
    agent_id: Identifier
    started_at: UtcDatetime
    ended_at: UtcDatetime
    messages: list[Message] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _check_order(self) -> ConversationEndRequest:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self


class ActivitiesRequest(BaseModel):
    user_id: Identifier
    agent_id: Identifier
    limit: int = Field(3, ge=1, le=10)


class NightlyRequest(BaseModel):
    now: UtcDatetime | None = None
