"""The wired object graph the routes use (built by the composition root, refactored.main)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from refactored.application.ports import AlertSink, Clock, FriendshipStore
from refactored.application.use_cases.end_conversation import EndConversation
from refactored.application.use_cases.get_friendship import GetFriendship
from refactored.application.use_cases.nightly_job import NightlyJob
from refactored.application.use_cases.suggest_activities import SuggestActivities
from refactored.core.resilience.breaker import CircuitBreaker
from refactored.core.settings import Settings


@dataclass
class Container:
    settings: Settings
    store: FriendshipStore
    end_conversation: EndConversation
    suggest_activities: SuggestActivities
    get_friendship: GetFriendship
    nightly_job: NightlyJob
    alerts: AlertSink
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    clock: Clock | None = None  # the use cases' clock (input window checks); None: system time
    # the nightly job's cross-worker lock (yields True when taken); None: no database to lock on
    nightly_lock: Callable[[], AbstractAsyncContextManager[bool]] | None = None
