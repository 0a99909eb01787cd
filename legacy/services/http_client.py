"""The one module-global sync HTTP client, as production had it.

Legacy bugs kept: no timeout at all (a hung LLM blocks the worker forever), TLS
verification off, and 429s retried in a tight loop: 10 attempts, fixed 0.2 s
``time.sleep`` (blocking the event loop), no jitter, ``Retry-After`` ignored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

logger = logging.getLogger("legacy.http")

# Creating a Client does no I/O; connections open on first use.
client = httpx.Client(timeout=None, verify=False)

RATE_LIMIT_ATTEMPTS = 10
RATE_LIMIT_SLEEP_S = 0.2  # fixed, not scaled by TIME_SCALE, no jitter


def post_json_with_retry(url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
    """POST ``payload`` and return the decoded JSON body; raise on anything but a 2xx.

    A 429 is retried immediately after a short fixed sleep, ignoring Retry-After.
    """
    response: httpx.Response | None = None
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        response = client.post(url, json=payload, headers=headers)
        if response.status_code != 429:
            break
        logger.warning("429 from %s (attempt %d/%d), retrying", url, attempt, RATE_LIMIT_ATTEMPTS)
        if attempt < RATE_LIMIT_ATTEMPTS:
            time.sleep(RATE_LIMIT_SLEEP_S)
    assert response is not None
    response.raise_for_status()
    return response.json()
