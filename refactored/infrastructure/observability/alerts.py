"""Alerts P0/P1/P2 as Google Chat cards (docs/conventions.md §9).

P0 and P1 are posted at once (in a background task: an alert never delays a
request), each title at most once per window (a DB outage is one page, not one
per request); P2 are collected and posted as one summary card per window, so a
fallback storm does not become a webhook storm (the legacy bug). Without
ALERT_WEBHOOK_URL alerts are only logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime

import httpx

log = logging.getLogger(__name__)
SUBTITLE = "Context Handling Module Alert"


def card(
    level: str, title: str, message: str, conversation_id: str | None, now: datetime
) -> dict[str, object]:
    return {
        "cards": [
            {
                "header": {"title": f"[{level}] {title}", "subtitle": SUBTITLE},
                "sections": [
                    {
                        "widgets": [
                            {"textParagraph": {"text": f"<b>Message:</b> {message}"}},
                            {
                                "textParagraph": {
                                    "text": f"<b>Conversation ID:</b> {conversation_id or 'N/A'}"
                                }
                            },
                            {"textParagraph": {"text": f"<b>Timestamp:</b> {now.isoformat()}"}},
                        ]
                    }
                ],
            }
        ]
    }


class GoogleChatAlertSink:
    def __init__(
        self, client: httpx.AsyncClient | None, webhook_url: str | None, p2_window_s: float
    ) -> None:
        self._client = client
        self._url = webhook_url
        self._window = p2_window_s
        self._p2: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_sent: dict[str, float] = {}

    def alert(
        self, level: str, title: str, message: str, conversation_id: str | None = None
    ) -> None:
        log.warning(
            "alert",
            extra={
                "alert_level": level,
                "title": title,
                "alert_message": message,
                "conversation_id": conversation_id,
            },
        )
        if level == "P2":
            self._p2[title] += 1
            return
        now = time.monotonic()
        last = self._last_sent.get(title)
        if last is not None and now - last < self._window:
            return  # already paged for this in the current window
        self._last_sent[title] = now
        self._spawn(card(level, title, message, conversation_id, datetime.now(UTC)))

    def _spawn(self, payload: dict[str, object]) -> None:
        if self._client is None or self._url is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._post(payload))
        except RuntimeError:  # no loop (called from a sync context at shutdown)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, payload: dict[str, object]) -> None:
        assert self._client is not None and self._url is not None
        try:
            response = await self._client.post(self._url, json=payload)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.error("alert webhook failed", extra={"error": repr(exc)})

    def flush_p2(self) -> None:
        """Post one card summarising the P2 alerts of the window (if any)."""
        if not self._p2:
            return
        counts, self._p2 = self._p2, Counter()
        lines = "; ".join(f"{title} x{n}" for title, n in counts.most_common())
        total = sum(counts.values())
        self._spawn(
            card(
                "P2",
                f"{total} warnings in the last {self._window:g}s",
                lines,
                None,
                datetime.now(UTC),
            )
        )

    async def run_p2_flusher(self) -> None:
        while True:
            await asyncio.sleep(self._window)
            self.flush_p2()

    async def aclose(self) -> None:
        self.flush_p2()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
