"""Fake Google Chat incoming webhook: records every card POSTed to any path.

``GET /_control/cards`` → ``{"count", "cards": [{"level", "title", "received_at", "body"}]}``;
``level`` is the ``[P0]``/``[P1]``/``[P2]`` prefix of the card title (null if none).
A card is recorded when the fake answers 200 (also a "malformed" 200), not when
a fault made it answer an error: the sender saw the post fail.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response

from doubles.fakes.control import FakeRuntime, install_control, json_response, openai_error

_LEVEL = re.compile(r"^\s*\[(P[0-2])\]")


def card_title(body: Any) -> str | None:
    """The header title of a Google Chat message: ``cards`` (v1), ``cardsV2``, else ``text``."""
    if not isinstance(body, dict):
        return None
    try:
        if body.get("cards"):
            return str(body["cards"][0]["header"]["title"])
        if body.get("cardsV2"):
            return str(body["cardsV2"][0]["card"]["header"]["title"])
    except (KeyError, IndexError, TypeError):
        pass
    text = body.get("text")
    return str(text).split("\n", 1)[0] if text is not None else None


def card_level(title: str | None) -> str | None:
    match = _LEVEL.match(title or "")
    return match.group(1) if match else None


def create_app() -> FastAPI:
    cards: list[dict[str, Any]] = []
    runtime = FakeRuntime("webhook", on_reset=cards.clear)
    app = FastAPI(title="fake Google Chat webhook", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    install_control(app, runtime)

    @app.get("/_control/cards")
    async def get_cards() -> Response:
        return json_response({"count": len(cards), "cards": cards})

    async def receive(request: Request) -> Response:
        raw = await request.body()
        received_at = datetime.now(UTC).isoformat()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None

        async def answer() -> Response:
            if not isinstance(body, dict):
                return openai_error(400, "the body must be a Google Chat message JSON object")
            return json_response({"name": f"spaces/fake/messages/{len(cards) + 1}"})

        response = await runtime.serve(request, None, answer)
        if response.status_code == 200 and isinstance(body, dict):
            title = card_title(body)
            cards.append(
                {
                    "level": card_level(title),
                    "title": title,
                    "received_at": received_at,
                    "body": body,
                }
            )
        return response

    app.add_api_route("/", receive, methods=["POST"])
    app.add_api_route("/{path:path}", receive, methods=["POST"])
    return app
