"""What the alerts said: the fake webhook's cards counted by level, once for every engine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

LEVELS = ("P0", "P1", "P2")
MAX_TITLES = 20  # enough to read what fired; a storm of distinct titles stays readable


def alert_summary(cards: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"P0": n, "P1": n, "P2": n, "titles": [first distinct titles]}``."""
    levels: Counter[str] = Counter()
    titles: list[str] = []
    for card in cards:
        levels[str(card.get("level") or "")] += 1
        title = str(card.get("title") or "")
        if title and title not in titles:
            titles.append(title)
    return {**{level: levels[level] for level in LEVELS}, "titles": titles[:MAX_TITLES]}
