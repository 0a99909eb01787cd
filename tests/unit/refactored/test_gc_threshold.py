"""The worker's cycle collector leaves a request's short-lived objects alone.

Under load each in-flight request keeps a few hundred container objects alive, which the
default threshold (700) turned into ~35 young-generation passes a second per worker that
collected nothing (docs/performance.md). Inside the app's lifespan a growth of a few
thousand live objects starts no pass; a real cycle is still collected; the caller's
thresholds come back at shutdown.
"""

from __future__ import annotations

import gc
from typing import Any

from refactored.main import GC_YOUNG_THRESHOLD
from tests.unit.refactored.app_harness import running, unit_overrides
from tests.unit.refactored.fake_llm import FakeDependencies

LIVE_OBJECTS = 5_000  # ~ what 64 requests in flight keep alive; 7 passes at 700


def _young_passes_while(make: Any) -> tuple[int, Any]:
    passes = 0

    def count(phase: str, info: dict[str, int]) -> None:
        nonlocal passes
        if phase == "start" and info["generation"] == 0:
            passes += 1

    gc.collect()  # start from an empty young generation
    gc.callbacks.append(count)
    try:
        kept = make()
    finally:
        gc.callbacks.remove(count)
    return passes, kept


async def test_live_request_objects_start_no_collection_and_the_threshold_is_restored() -> None:
    before = gc.get_threshold()
    async with running(FakeDependencies(), unit_overrides()) as (_app, client):
        assert (await client.get("/health")).status_code == 200
        passes, kept = _young_passes_while(lambda: [{} for _ in range(LIVE_OBJECTS)])
        assert len(kept) == LIVE_OBJECTS
        assert passes == 0
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        # a cycle is garbage the collector still finds
        cycle: list[Any] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == before
    passes, _ = _young_passes_while(lambda: [{} for _ in range(LIVE_OBJECTS)])
    assert passes >= LIVE_OBJECTS // before[0] - 1  # the default threshold: passes again
