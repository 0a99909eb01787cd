"""Fake OpenAI-compatible LLM: ``POST /chat/completions`` with deterministic answers.

Answers per docs/conventions.md §6 (see :mod:`doubles.fakes.llm.answers`); faults and
counters via the shared control API (:mod:`doubles.fakes.control`).
"""

from __future__ import annotations

import itertools
import json
import time

from fastapi import FastAPI, Request, Response
from starlette.routing import Route

from doubles.fakes.control import FakeRuntime, install_control, json_response, openai_error
from doubles.fakes.llm.answers import ANSWERS, TASKS, BadRequest, parse_task

# calls_by_task key of a request whose task could not be read
INVALID_TASK = "invalid"


def create_app() -> FastAPI:
    runtime = FakeRuntime("llm", has_tasks=True)
    app = FastAPI(title="fake LLM", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    ids = itertools.count(1)

    async def chat_completions(request: Request) -> Response:
        raw = await request.body()
        task = INVALID_TASK
        content: object = None
        problem: str | None = None
        model = "fake-llm"
        try:
            body = json.loads(raw)
            if isinstance(body, dict):
                model = str(body.get("model") or model)
            task, content = parse_task(body)
            if task not in ANSWERS:
                known = ", ".join(TASKS)
                problem = f"unknown task {task!r}: the system message must start 'TASK: <{known}>'"
        except json.JSONDecodeError as exc:
            problem = f"the request body is not JSON: {exc}"
        except BadRequest as exc:
            problem = str(exc)

        async def answer() -> Response:
            if problem is not None:
                return openai_error(400, problem)
            try:
                result = ANSWERS[task](content)
            except BadRequest as exc:
                return openai_error(400, f"task {task}: {exc}")
            text = json.dumps(result, ensure_ascii=False)
            return json_response(
                {
                    "id": f"chatcmpl-fake-{next(ids)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    # whitespace-split counts: cheap and deterministic, not a real tokenizer
                    "usage": {
                        "prompt_tokens": len(raw.split()),
                        "completion_tokens": len(text.split()),
                        "total_tokens": len(raw.split()) + len(text.split()),
                    },
                }
            )

        return await runtime.serve(request, task, answer, body=raw)

    # Plain Starlette routes, first in the table: the hot path skips FastAPI's
    # dependency solving and the scan over the control routes.
    for path in ("/chat/completions", "/v1/chat/completions"):
        app.router.routes.insert(0, Route(path, chat_completions, methods=["POST"]))
    install_control(app, runtime)
    return app
