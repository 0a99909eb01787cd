"""db_pool_exhaustion: the nightly job runs during traffic on a slow database (docs/chaos.md).

Setup: 40 inactive friendships (decay due) and 40 active ones (summary due) are seeded for
a separate agent. Fault: a small Toxiproxy ``latency`` toxic on ``postgres`` (a twentieth
of the statement timeout: slow, not failing) and summary LLM calls of 2% of the LLM
timeout, then ``POST /v1/admin/nightly`` with the
target's admin token while the normal load runs. Legacy runs the job inline in the request
(blocking that worker's event loop) with 20 threads each holding a pooled connection
during an LLM call: the pool the requests need is gone. Refactored runs it with a bounded
share of the pool: requests keep being served.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from chaos.load_plan import LoadPlan, standard_clients
from chaos.loadgen import LoadGenerator
from chaos.measure import _asyncpg_url
from chaos.scenarios.checks import count, is_2xx, pct_ms, sanity_fault, share_check
from chaos.scenarios.context import FaultStep, ScenarioContext
from chaos.scenarios.effects import added_latency, counted
from chaos.scenarios.faults import fake_faults, toxic
from chaos.scenarios.measurements import Measurements
from chaos.scenarios.scenario import Scenario
from chaos.scenarios.timeline import Timeline
from testbed.results import Expectation

INACTIVE, ACTIVE = 40, 40
JOB = "nightly_job"


class DbPoolExhaustion(Scenario):
    name = "db_pool_exhaustion"
    description = (
        "nightly job + traffic + slow DB: refactored keeps serving requests (bounded job "
        "concurrency); legacy's job hogs the pool and its event loop"
    )

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        return Timeline.of(fault_s=max(1.4 * ctx.lb_timeout_s, 6.0), recovery_s=1.0, baseline_s=1.5)

    def trigger_s(self, ctx: ScenarioContext) -> float:
        return self.timeline(ctx).fault_start_s + 0.5

    def seed_agent(self, ctx: ScenarioContext) -> str:
        return f"agent-{ctx.prefix}-nightly"

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        t = self.timeline(ctx)
        # slow, not failing: a twentieth of the statement timeout per round trip, and summary
        # calls of a fiftieth of the LLM timeout (legacy holds a pooled connection meanwhile)
        slow_db = {"latency": int(self.db_delay_ms(ctx))}
        slow_summary = {"latency_ms": int(0.02 * ctx.llm_timeout_s * 1000), "tasks": ["summary"]}
        return [
            toxic("db_slow", "postgres", "latency", slow_db, t.fault_start_s, t.fault_end_s),
            fake_faults("llm_slow_summary", "llm", slow_summary, t.fault_start_s, t.fault_end_s),
        ]

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        return LoadPlan(clients=standard_clients(5))

    async def prepare(self, ctx: ScenarioContext) -> None:
        import asyncpg

        now = datetime.now(UTC)
        agent = self.seed_agent(ctx)
        rows = [
            (f"{ctx.prefix}-old{i}", agent, 200 + i, now - timedelta(days=5))
            for i in range(INACTIVE)
        ] + [
            (f"{ctx.prefix}-act{i}", agent, 120 + i, now - timedelta(hours=1))
            for i in range(ACTIVE)
        ]
        conn = await asyncpg.connect(_asyncpg_url(ctx.endpoints.database_url), timeout=10)
        try:
            await conn.executemany(
                "insert into friendships (user_id, agent_id, score, level, last_interaction_at) "
                "values ($1, $2, $3, 'acquaintance', $4) on conflict do nothing",
                rows,
            )
        finally:
            await conn.close()

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        """Start the nightly job on the service itself (an operator call, not via the LB)."""
        await asyncio.sleep(max(0.0, self.trigger_s(ctx) - ctx.now()))
        started = ctx.now()
        t0 = time.perf_counter()
        status: int | None = None
        body: object = None
        try:
            response = await ctx.http.post(
                f"{ctx.endpoints.service_url}/v1/admin/nightly",
                headers={"Authorization": f"Bearer {ctx.endpoints.admin_token}"},
                json={},
                timeout=max(60.0, 4 * ctx.lb_timeout_s),
            )
            status = response.status_code
            body = response.json() if "json" in response.headers.get("content-type", "") else None
        except httpx.HTTPError as exc:
            body = type(exc).__name__
        ctx.facts[JOB] = {
            "status": status,
            "response": body,
            "started_s": round(started, 3),
            "duration_s": round(time.perf_counter() - t0, 3),
        }

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_url(ctx.endpoints.database_url), timeout=10)
        try:
            decayed = await conn.fetchval(
                "select count(*) from friendships"
                " where agent_id = $1 and last_decay_date is not null",
                self.seed_agent(ctx),
            )
        finally:
            await conn.close()
        job = ctx.facts.setdefault(JOB, {})
        job["seeded_decayed"] = int(decayed)
        start = float(job.get("started_s", self.trigger_s(ctx)))
        end = min(start + float(job.get("duration_s", 0.0)), self.duration_s(ctx))
        m.windows.append({"label": JOB, "start_s": start, "end_s": max(end, start + 1.0)})

    def db_delay_ms(self, ctx: ScenarioContext) -> float:
        return 0.05 * ctx.db_statement_timeout_s * 1000

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        # the job really ran into the slow LLM (summaries reached the fake from its start
        # on: only the job asks for them, and it may outlast the load), and the client's
        # conversation ends waited for the slow DB (one delayed round trip at least, on the
        # median)
        start, _end = m.window(JOB)
        summaries = m.fake_delta(
            "llm",
            start,
            float("inf"),
            lambda st: float(st.get("calls_by_task", {}).get("summary", 0)),
        )
        return [
            counted(
                "effect_llm_summary_calls_during_job",
                "summary calls the fake LLM received from the nightly job's start on",
                summaries,
                ">=",
                1,
            ),
            added_latency(m, self.db_delay_ms(ctx), label=JOB, q="p50"),
        ]

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        job = ctx.facts.get(JOB, {})
        during = m.during(JOB)
        status = job.get("status")
        # reached the service and was not refused (a worker killed mid-job still ran it)
        if status is None:
            triggered = job.get("response") not in (None, "ConnectError")
        else:
            triggered = not 400 <= status < 500
        completed = job.get("seeded_decayed") if status is not None and status < 300 else 0
        return [
            sanity_fault(m),
            Expectation.check(
                "nightly_job_triggered",
                "the admin call reached the service and was not refused (4xx, refused)",
                1 if triggered else 0,
                "==",
                1,
                role="sanity",
            ),
            Expectation.check(
                "nightly_job_completed",
                "seeded inactive friendships decayed by a nightly job that answered 2xx (it "
                "survived: no 503 from an exhausted pool, no killed worker)",
                completed,
                ">=",
                INACTIVE,
            ),
            Expectation.check(
                "load_during_job",
                "conversation ends started while the nightly job ran",
                len(during),
                ">=",
                3,
                role="sanity",
            ),
            Expectation.check(
                "no_504",
                "conversation ends answered 504 while the nightly job ran",
                count(during, lambda s: s.status == 504),
                "==",
                0,
            ),
            share_check(
                "conversation_end_2xx_share",
                "share of conversation ends answered 2xx while the nightly job ran",
                during,
                is_2xx,
                ">=",
                0.95,
            ),
            Expectation.check(
                "conversation_end_p95_ms",
                "p95 conversation-end latency while the nightly job ran (half the LB timeout)",
                pct_ms(during, "p95"),
                "<",
                0.5 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
            Expectation.check(
                "health_p95_ms_during_job",
                "/health latency p95 while the nightly job ran (a tenth of the LB timeout)",
                pct_ms(m.health_during(JOB), "p95"),
                "<",
                0.1 * ctx.lb_timeout_s * 1000,
                unit="ms",
            ),
        ]


SCENARIO = DbPoolExhaustion()
