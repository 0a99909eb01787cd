"""Fake Memory API: ``POST /v1/memories/`` (docs/conventions.md §7).

One memory per distinct topic (of the fake LLM's keyword table) found in the
user messages, text ``"User talks about <topic>"``; ``event`` is ``ADD`` the
first time a (user, agent, memory) is seen, ``NONE`` after; ids are
``uuid5(NAMESPACE_URL, "<user_id>/<agent_id>/<memory>")``. The store lives in
memory and is emptied by ``POST /_control/reset``.
"""

from __future__ import annotations

import json
import uuid

from fastapi import FastAPI, Request, Response

from doubles.fakes.control import FakeRuntime, install_control, json_response, openai_error
from doubles.fakes.llm.lexicon import all_topics_in


def memory_id(user_id: str, agent_id: str, memory: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}/{agent_id}/{memory}"))


def memory_text(topic: str) -> str:
    return f"User talks about {topic}"


def memories_for(texts: list[str]) -> list[str]:
    # every topic found, not only the first 5 the fake LLM reports
    return [memory_text(topic) for topic in all_topics_in(texts)]


def create_app() -> FastAPI:
    store: set[tuple[str, str, str]] = set()
    runtime = FakeRuntime("memory", on_reset=store.clear)
    app = FastAPI(title="fake Memory API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.state.store = store
    install_control(app, runtime)

    @app.post("/v1/memories/")
    @app.post("/v1/memories", include_in_schema=False)
    async def add_memories(request: Request) -> Response:
        raw = await request.body()

        async def answer() -> Response:
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as exc:
                return openai_error(400, f"the body is not JSON: {exc}")
            if not isinstance(body, dict):
                return openai_error(400, "the body must be {user_id, agent_id, messages}")
            user_id, agent_id, messages = (body.get(k) for k in ("user_id", "agent_id", "messages"))
            if not isinstance(user_id, str) or not isinstance(agent_id, str):
                return openai_error(400, "'user_id' and 'agent_id' must be strings")
            if not isinstance(messages, list):
                return openai_error(400, "'messages' must be a list of {role, content}")
            texts = [
                str(m.get("content", ""))
                for m in messages
                if isinstance(m, dict) and m.get("role") == "user"
            ]
            results = []
            for memory in memories_for(texts):
                key = (user_id, agent_id, memory)
                event = "NONE" if key in store else "ADD"
                store.add(key)
                results.append(
                    {"id": memory_id(user_id, agent_id, memory), "memory": memory, "event": event}
                )
            return json_response({"results": results})

        return await runtime.serve(request, None, answer, body=raw)

    return app
