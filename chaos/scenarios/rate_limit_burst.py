"""rate_limit_burst: one client bursts far above its limit while others use the service.

Load: 5 normal clients (each well under the limits) and, 1.5 s in, one client firing 200
``POST /v1/activities/suggest`` (limit ``RATE_LIMIT_ACTIVITIES_SUGGEST`` = 60/minute per
client) from its own source address (one real peer of the load balancer, no forged
header). Refactored: the burster gets 429 + ``Retry-After``, nobody else is throttled.
Legacy has no limiter: the burster is served at everyone's expense.
"""

from __future__ import annotations

from chaos.load_plan import ACTIVITIES, BurstSpec, LoadPlan, client_address, standard_clients
from chaos.scenarios.checks import count, is_2xx, share_check
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

BURST = 200
BURSTER = "burster"


class RateLimitBurst(Scenario):
    name = "rate_limit_burst"
    description = (
        "one client bursts 200 activity requests: refactored answers it 429 + Retry-After "
        "while the other clients are served normally; legacy has no limiter"
    )
    restart_after = ("refactored",)  # the limiter's window remembers the burster

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=6.0, recovery_s=1.0)

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        return []

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        t = self.timeline(ctx)
        burst = BurstSpec(
            BURSTER,
            client_address(200),
            ACTIVITIES,
            at_s=t.fault_start_s,
            count=BURST,
            concurrency=8,
        )
        return LoadPlan(clients=standard_clients(5), bursts=(burst,))

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        t = self.timeline(ctx)
        m.windows.append({"label": "burst", "start_s": t.fault_start_s, "end_s": t.fault_end_s})

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        burster = [s for s in m.samples if s.client == BURSTER]
        limited = [s for s in burster if s.status == 429]
        others = [s for s in m.samples if s.client != BURSTER]
        return [
            Expectation.check(
                "burst_sent",
                "requests the bursting client sent (2x what two workers' limits let through)",
                len(burster),
                ">=",
                BURST * 0.9,
                role="sanity",
            ),
            share_check(
                "burster_429_share",
                "share of the burster's requests answered 429",
                burster,
                lambda s: s.status == 429,
                ">=",
                0.2,
            ),
            share_check(
                "burster_429_retry_after",
                "share of the burster's 429s carrying Retry-After",
                limited,
                lambda s: s.retry_after is not None,
                ">=",
                1.0,
            ),
            Expectation.check(
                "others_not_limited",
                "429s answered to the other clients",
                count(others, lambda s: s.status == 429),
                "==",
                0,
            ),
            share_check(
                "others_2xx_share",
                "other clients' requests served (2xx, or 404: friendship not yet created)",
                others,
                lambda s: is_2xx(s) or s.status == 404,
                ">=",
                0.95,
            ),
        ]


SCENARIO = RateLimitBurst()
