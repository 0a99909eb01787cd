"""HttpxMemoryStore: the Mem0-style Memory API behind the MemoryStore port."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from opentelemetry import trace

from refactored.application.errors import MemoryUnavailable
from refactored.application.ports import Message
from refactored.core.resilience.errors import CallFailed
from refactored.core.resilience.policy import DependencyPolicy
from refactored.infrastructure.http.clients import JsonPoster, endpoint
from refactored.infrastructure.http.responses import json_body, send


class HttpxMemoryStore:
    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        policy: DependencyPolicy,
        tracer: trace.Tracer | None = None,
    ) -> None:
        auth = {"Authorization": f"Token {api_key}"} if api_key else {}
        self._post = JsonPoster(client, endpoint(client, "v1/memories/"), auth)
        self._policy = policy
        self._tracer = tracer or trace.get_tracer(__name__)

    async def add(self, user_id: str, agent_id: str, messages: Sequence[Message]) -> int:
        body = {
            "user_id": user_id,
            "agent_id": agent_id,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }

        async def attempt() -> int:
            with self._tracer.start_as_current_span("memory.add"):
                response = await send(
                    lambda: self._post(body),
                    "memory",
                )
                results = json_body(response, "memory").get("results")
                if not isinstance(results, list):
                    raise CallFailed("memory answer has no results list")
                return len(results)

        try:
            return await self._policy.call(attempt)
        except (CallFailed, AttributeError) as exc:
            raise MemoryUnavailable(f"Memory API: {exc}") from exc
