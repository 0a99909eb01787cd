"""Google Chat alerts, posted synchronously from the request (legacy: blocks the event loop).

Legacy bug kept: P2 "fallback used" is posted once per request, not batched.
Errors while alerting are logged and swallowed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from legacy.services.http_client import client

logger = logging.getLogger("legacy.alerts")


def google_chat_card(level: str, title: str, message: str, conversation_id: str | None) -> dict:
    return {
        "cards": [
            {
                "header": {
                    "title": f"[{level}] {title}",
                    "subtitle": "Context Handling Module Alert",
                },
                "sections": [
                    {
                        "widgets": [
                            {"textParagraph": {"text": f"<b>Message:</b> {message}"}},
                            {
                                "textParagraph": {
                                    "text": f"<b>Conversation ID:</b> {conversation_id or 'N/A'}"
                                }
                            },
                            {
                                "textParagraph": {
                                    "text": f"<b>Timestamp:</b> {datetime.now(UTC).isoformat()}"
                                }
                            },
                        ]
                    }
                ],
            }
        ]
    }


def send_alert(
    webhook_url: str | None,
    level: str,
    title: str,
    message: str,
    conversation_id: str | None = None,
) -> None:
    logger.warning("[%s] %s: %s (conversation %s)", level, title, message, conversation_id)
    if not webhook_url:
        return
    try:
        client.post(webhook_url, json=google_chat_card(level, title, message, conversation_id))
    except Exception as exc:
        logger.error("Failed to send Google Chat alert: %r", exc)
