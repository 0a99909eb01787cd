"""The bench's workloads: which route a closed-loop Locust user calls, and its ideal.

Each workload is a closed loop (no think time, so concurrency = users) of one route, the
fake LLM answering every call in a fixed ``latency_ms``. Its ideal throughput is Little's
law: concurrency / the time a request must wait at least, which is the slowest of the
dependency calls it makes at once. Both workloads wait for one LLM latency: ``suggest``
makes one call, ``conversation_end`` makes its three analyses concurrently (the Memory
API, the fakes' default, answers at once), so the ideal is concurrency / latency for both.
Legacy makes its three calls one after the other, which is what the ratio shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.model import ScaledStage, Scenario, ScheduledFault
from testbed.faults import FakeFaults


@dataclass(frozen=True)
class Workload:
    name: str
    user_class: str  # a class of loadtests.users
    endpoint: str  # the Locust request name its samples carry
    concurrent_llm_calls: int  # made at once: the request waits for the slowest only

    @property
    def scenario_name(self) -> str:
        return "bench" if self.name == "suggest" else f"bench_{self.name}"

    def description(self, latency_ms: int) -> str:
        calls = (
            "one LLM call"
            if self.concurrent_llm_calls == 1
            else f"{self.concurrent_llm_calls} concurrent LLM calls"
        )
        return f"closed loop of {self.endpoint} ({calls}), LLM at a fixed {latency_ms} ms"


SUGGEST = Workload("suggest", "BenchSuggester", "POST /v1/activities/suggest", 1)
CONVERSATION_END = Workload(
    "conversation_end", "BenchConversationEnder", "POST /v1/conversations/end", 3
)
WORKLOADS = {w.name: w for w in (SUGGEST, CONVERSATION_END)}


class UnknownWorkloadError(ValueError):
    pass


def parse_workloads(text: str) -> list[Workload]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise UnknownWorkloadError(
            f"unknown bench workload(s) {unknown or text!r}: valid workloads: "
            f"{', '.join(WORKLOADS)} (comma-separated)"
        )
    return [WORKLOADS[n] for n in names]


def bench_stages(
    levels: Sequence[int], step_s: float, user_class: str = SUGGEST.user_class
) -> list[ScaledStage]:
    return [
        ScaledStage(f"c={c}", i * step_s, (i + 1) * step_s, c, float(max(c, 10)), (user_class,))
        for i, c in enumerate(levels)
    ]


def bench_scenario(latency_ms: int, workload: Workload = SUGGEST) -> Scenario:
    return Scenario(
        name=workload.scenario_name,
        description=workload.description(latency_ms),
        stages=(),
        faults=(
            ScheduledFault(
                f"LLM fixed {latency_ms} ms",
                FakeFaults("llm", {"latency_ms": latency_ms}),
                0,
                None,
                scale=False,
            ),
        ),
        legacy_expected_to_fail=True,
    )


def ideal_rps(
    concurrency: int, latency_ms: float, connection_limit: int | None, calls_at_once: int = 1
) -> float:
    """Little's law: throughput = requests in flight / the slowest call each waits for.

    The requests in flight are capped by the LLM connections refactored may open
    (``workers x HTTP_MAX_CONNECTIONS``, ``calls_at_once`` of them per request); a
    workload's concurrent calls all wait the same fixed latency, so the slowest is one.
    """
    in_flight = (
        concurrency
        if connection_limit is None
        else min(concurrency, connection_limit // max(1, calls_at_once))
    )
    return in_flight / (latency_ms / 1000.0)
