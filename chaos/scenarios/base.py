"""What a chaos scenario is: a fault schedule + bounded load + expectations per target.

A :class:`Scenario` subclass says *what* happens (its fault steps, its load plan, how long)
and *what must hold* (``evaluate``: measured numbers -> :class:`Expectation` list). This
module does the *how* once for all of them: apply and revert the faults on one clock with
the load, then measure (status counts, latency, health probes, LLM calls, breaker
transitions, alerts, data integrity, event-loop lag) into a
:class:`testbed.results.ScenarioResult`.

The same resilience expectations run on both targets (docs/conventions.md section 13);
legacy is marked ``expected_to_fail`` where the incident's failure is the expected outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx

from chaos import measure
from chaos.loadgen import END, LoadGenerator, LoadPlan, Sample, in_window
from chaos.scenarios.timeline import Timeline
from testbed import timeouts
from testbed.results import (
    Expectation,
    Op,
    Role,
    ScenarioResult,
    bucket_series,
    latency_summary,
    now_iso,
)
from testbed.target import configured_app_deadline_s

ANALYSIS_TASKS = ("emotion", "questions", "topics")


class FakeEndpoint(Protocol):
    control_url: str


class TargetEndpoints(Protocol):
    """What a scenario needs of one target (``testbed.stack``'s per-target info)."""

    lb_url: str
    service_url: str
    metrics_url: str | None
    database_url: str
    admin_token: str
    toxiproxy_url: str
    proxies: Mapping[str, str]
    fakes: Mapping[str, Any]
    lb_timeout_s: float
    app_timeout_s: float
    env: Mapping[str, str]  # the service's environment (what it was configured with)


# -- clients of the fault injectors --------------------------------------------------------


class ToxiproxyClient:
    """Toxiproxy's documented HTTP API (the same on the real server and doubles.toxiproxy).

    Raw async HTTP rather than toxiproxy-python: that client is blocking (requests), and
    the scenario's clock and load run on one event loop that must not stall.
    """

    def __init__(self, http: httpx.AsyncClient, url: str, names: Mapping[str, str]) -> None:
        self.http, self.url, self.names = http, url.rstrip("/"), names

    def _name(self, proxy: str) -> str:
        return self.names.get(proxy, proxy)

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        r = await self.http.post(
            f"{self.url}/proxies/{self._name(proxy)}", json={"enabled": enabled}
        )
        r.raise_for_status()

    async def add_toxic(
        self,
        proxy: str,
        name: str,
        kind: str,
        attributes: Mapping[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        body = {
            "name": name,
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        r = await self.http.post(f"{self.url}/proxies/{self._name(proxy)}/toxics", json=body)
        r.raise_for_status()

    async def remove_toxic(self, proxy: str, name: str) -> None:
        r = await self.http.delete(f"{self.url}/proxies/{self._name(proxy)}/toxics/{name}")
        if r.status_code != 404:
            r.raise_for_status()

    async def proxy(self, proxy: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.url}/proxies/{self._name(proxy)}")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        r = await self.http.post(f"{self.url}/reset")
        r.raise_for_status()


class FakeClient:
    """The fakes' control API (docs/conventions.md section 8), async."""

    def __init__(self, http: httpx.AsyncClient, control_url: str) -> None:
        self.http, self.url = http, control_url.rstrip("/")

    def _u(self, path: str) -> str:
        # control_url may or may not already end in /_control
        base = self.url if self.url.endswith("/_control") else f"{self.url}/_control"
        return f"{base}/{path}"

    async def set_faults(self, faults: Mapping[str, Any]) -> dict[str, Any]:
        r = await self.http.put(self._u("faults"), json=dict(faults))
        r.raise_for_status()
        r = await self.http.get(self._u("faults"))
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    async def clear_faults(self) -> None:
        (await self.http.delete(self._u("faults"))).raise_for_status()

    async def reset(self) -> None:
        (await self.http.post(self._u("reset"))).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        r = await self.http.get(self._u("stats"))
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    async def cards(self) -> list[dict[str, Any]]:
        r = await self.http.get(self._u("cards"))
        r.raise_for_status()
        cards: list[dict[str, Any]] = r.json().get("cards", [])
        return cards


# -- the context a scenario runs in ---------------------------------------------------------


@dataclass
class ScenarioContext:
    """Everything a scenario touches on one target, plus the run's clock."""

    target: str
    endpoints: TargetEndpoints
    http: httpx.AsyncClient
    time_scale: float
    prefix: str  # unique per target, run and scenario: conversation ids and users carry it
    amqp_url: str | None = None
    t0: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the fault steps observed

    # production durations (handbook), scaled like the services scale them
    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    @property
    def llm_timeout_s(self) -> float:
        return self.scaled(timeouts.LLM_TIMEOUT_S)

    @property
    def db_statement_timeout_s(self) -> float:
        return self.scaled(timeouts.DB_STATEMENT_TIMEOUT_S)

    @property
    def breaker_recovery_s(self) -> float:
        return self.scaled(timeouts.BREAKER_RECOVERY_S)

    @property
    def lb_timeout_s(self) -> float:
        return float(self.endpoints.lb_timeout_s)

    @property
    def app_timeout_s(self) -> float:
        return float(self.endpoints.app_timeout_s)

    @property
    def app_deadline_s(self) -> float | None:
        """The request deadline the target itself enforces (None: it has none)."""

        return configured_app_deadline_s(self.target, self.endpoints.env)

    def now(self) -> float:
        """Seconds since the scenario started (the clock of samples and fault windows)."""
        return time.monotonic() - self.t0

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.http, self.endpoints.toxiproxy_url, self.endpoints.proxies)

    def fake(self, kind: str) -> FakeClient:
        fake = self.endpoints.fakes[kind]
        url = fake["control_url"] if isinstance(fake, Mapping) else fake.control_url
        return FakeClient(self.http, url)

    @property
    def is_refactored(self) -> bool:
        return self.target == "refactored"


@dataclass(frozen=True)
class FaultStep:
    """A fault active from ``start_s`` to ``end_s`` (scenario clock). ``apply`` returns
    whether the injector confirmed the fault (read back), which feeds the sanity checks."""

    label: str
    start_s: float
    end_s: float
    apply: Callable[[ScenarioContext], Awaitable[bool]]
    revert: Callable[[ScenarioContext], Awaitable[None]]


# -- measurements -------------------------------------------------------------------------


@dataclass
class Measurements:
    """What a scenario measured on one target; ``evaluate`` turns it into expectations."""

    samples: list[Sample]
    health: list[Sample]
    windows: list[dict[str, Any]]  # label, start_s, end_s
    llm_stats: dict[str, Any] = field(default_factory=dict)
    metrics_before: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(
        default_factory=dict
    )
    metrics_after: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)
    cards: list[dict[str, Any]] = field(default_factory=list)
    integrity: dict[str, Any] = field(default_factory=dict)
    faults_confirmed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    # the fakes' /_control/stats sampled on the scenario clock: kind -> [(t_s, stats)]
    fake_series: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)

    # ---- windows
    def window(self, label: str | None = None) -> tuple[float, float]:
        """The fault window (first one, or the one named ``label``)."""
        for w in self.windows:
            if label is None or w["label"] == label:
                return float(w["start_s"]), float(w["end_s"])
        raise KeyError(f"no fault window {label!r}")

    def during(self, label: str | None = None, endpoint: str | None = END) -> list[Sample]:
        start, end = self.window(label)
        return [s for s in in_window(self.samples, start, end) if endpoint in (None, s.endpoint)]

    def after(self, start_s: float, endpoint: str | None = END) -> list[Sample]:
        return [s for s in self.samples if s.t_s >= start_s and endpoint in (None, s.endpoint)]

    def health_during(self, label: str | None = None) -> list[Sample]:
        start, end = self.window(label)
        return in_window(self.health, start, end)

    # ---- what the fakes saw, from their sampled counters (the same on every target)
    def fake_stats_at(self, kind: str, t_s: float) -> dict[str, Any] | None:
        """The fake's counters as last sampled at or before ``t_s`` (else the first sample)."""
        series = self.fake_series.get(kind) or []
        chosen = series[0][1] if series else None
        for at, stats in series:
            if at > t_s:
                break
            chosen = stats
        return chosen

    def fake_delta(
        self, kind: str, start_s: float, end_s: float, read: Callable[[dict[str, Any]], float]
    ) -> float | None:
        """How much ``read(stats)`` grew between two instants (None: never sampled)."""
        before, after = self.fake_stats_at(kind, start_s), self.fake_stats_at(kind, end_s)
        if before is None or after is None:
            return None
        return read(after) - read(before)

    def llm_calls_between(self, start_s: float, end_s: float) -> int | None:
        """Analysis calls (emotion, questions, topics) that reached the fake LLM."""
        delta = self.fake_delta("llm", start_s, end_s, analysis_calls)
        return None if delta is None else int(delta)

    def fake_answered_between(
        self, kind: str, status: int, start_s: float, end_s: float
    ) -> int | None:
        """Answers with ``status`` the fake gave between two instants."""

        def answered(stats: dict[str, Any]) -> float:
            return float(stats.get("responses_by_status", {}).get(str(status), 0))

        delta = self.fake_delta(kind, start_s, end_s, answered)
        return None if delta is None else int(delta)

    # ---- breaker transitions from circuit_breaker_transitions_total (delta over the run)
    def breaker_transitions(self) -> list[dict[str, Any]]:
        out = []
        for (name, labels), value in sorted(self.metrics_after.items(), key=lambda kv: str(kv[0])):
            if name != "circuit_breaker_transitions_total":
                continue
            delta = value - self.metrics_before.get((name, labels), 0.0)
            if delta > 0:
                lab = dict(labels)
                out.append(
                    {
                        "dependency": lab.get("dependency", ""),
                        "from_state": lab.get("from_state", ""),
                        "to_state": lab.get("to_state", ""),
                        "count": int(delta),
                    }
                )
        return out

    def transitions_to(self, dependency: str, to_state: str) -> int | None:
        """None when the target exposes no metrics at all (legacy): not measurable = fail."""
        if not self.metrics_after:
            return None
        return sum(
            t["count"]
            for t in self.breaker_transitions()
            if t["dependency"] == dependency and t["to_state"] == to_state
        )

    def gauge_max(self, name: str) -> float | None:
        values = [v for (n, _labels), v in self.metrics_after.items() if n == name]
        return max(values) if values else None

    # ---- alerts
    def alerts(self) -> dict[str, Any]:
        levels: Counter[str] = Counter()
        titles: list[str] = []
        for card in self.cards:
            level = str(card.get("level") or "")
            levels[level] += 1
            title = str(card.get("title") or "")
            if title and title not in titles:
                titles.append(title)
        return {"P0": levels["P0"], "P1": levels["P1"], "P2": levels["P2"], "titles": titles[:20]}

    # ---- LLM amplification
    def llm_calls(self) -> dict[str, Any]:
        by_task = dict(self.llm_stats.get("calls_by_task", {}))
        analysis = sum(int(by_task.get(t, 0)) for t in ANALYSIS_TASKS)
        ends = sum(1 for s in self.samples if s.endpoint == END)
        return {
            "total": int(self.llm_stats.get("calls_total", 0)),
            "by_task": by_task,
            "analysis_calls": analysis,
            "conversation_ends": ends,
            "per_request": round(analysis / ends, 3) if ends else None,
            "max_in_flight": self.llm_stats.get("max_in_flight"),
        }


# -- small measurement helpers used by the scenarios ---------------------------------------


def analysis_calls(stats: Mapping[str, Any]) -> float:
    """Analysis calls in one reading of the fake LLM's counters."""
    by_task = stats.get("calls_by_task", {})
    return float(sum(int(by_task.get(task, 0)) for task in ANALYSIS_TASKS))


def share(samples: Iterable[Sample], predicate: Callable[[Sample], bool]) -> float | None:
    items = list(samples)
    if not items:
        return None
    return round(sum(1 for s in items if predicate(s)) / len(items), 4)


MIN_SHARE_SAMPLES = 5  # a fraction of fewer samples than this proves nothing


def share_check(
    name: str,
    description: str,
    samples: Iterable[Sample],
    predicate: Callable[[Sample], bool],
    op: Op,
    threshold: float,
    *,
    min_samples: int = MIN_SHARE_SAMPLES,
    role: Role = "resilience",
) -> Expectation:
    """The share of ``samples`` matching ``predicate`` against ``threshold``, judged only
    over at least ``min_samples`` samples: fewer fail with that reason, never a vacuous
    1.0 (e.g. "every failure was a 503" when nothing failed)."""
    items = list(samples)
    return Expectation.check(
        name, description, share(items, predicate), op, threshold,
        role=role, samples=len(items), min_samples=min_samples,
    )  # fmt: skip


def count(samples: Iterable[Sample], predicate: Callable[[Sample], bool]) -> int:
    return sum(1 for s in samples if predicate(s))


def pct_ms(samples: Iterable[Sample], q: str = "p95") -> float | None:
    summary = latency_summary(s.latency_ms for s in samples)
    value = summary.get(q)
    return None if value is None else round(float(value), 1)


def is_2xx(s: Sample) -> bool:
    return s.status is not None and 200 <= s.status < 300


def is_lb_504(s: Sample) -> bool:
    """A 504 the load balancer produced (the app's own deadline 504 names its error)."""
    return s.status == 504 and s.error != "deadline_exceeded"


def is_5xx_or_error(s: Sample) -> bool:
    return s.status is None or s.status >= 500


def sanity_load(m: Measurements, minimum: int) -> Expectation:
    ends = [s for s in m.samples if s.endpoint == END]
    return Expectation.check(
        "load_conversation_ends",
        "the load really ran: conversation ends sent during the scenario",
        len(ends),
        ">=",
        minimum,
        role="sanity",
    )


def sanity_fault(m: Measurements) -> Expectation:
    return Expectation.check(
        "fault_injected",
        "every fault step was confirmed by its injector (Toxiproxy or the fake read back)",
        1.0 if m.faults_confirmed else 0.0,
        "==",
        1.0,
        role="sanity",
    )


def sanity_load_during_fault(
    m: Measurements, minimum: int, label: str | None = None
) -> Expectation:
    return Expectation.check(
        "load_during_fault",
        "conversation ends started while the fault was active",
        len(m.during(label)),
        ">=",
        minimum,
        role="sanity",
    )


def sanity_llm_answered(m: Measurements, status: int) -> Expectation:
    """The fake LLM really answered ``status`` (the injected error happened)."""
    statuses = m.llm_stats.get("responses_by_status", {})
    return Expectation.check(
        f"llm_answered_{status}",
        f"the fake LLM really answered {status}s",
        int(statuses.get(str(status), 0)),
        ">=",
        1,
        role="sanity",
    )


# -- the scenario ---------------------------------------------------------------------------


class Scenario:
    """Base class: subclasses set the class attributes and implement the hooks that raise
    NotImplementedError (faults, plan, timeline, evaluate)."""

    name: ClassVar[str]
    description: ClassVar[str]
    # targets whose service keeps state after this scenario (open breakers, a rate-limit
    # window, dead pooled DB connections): the runner restarts it before the next scenario
    restart_after: ClassVar[tuple[str, ...]] = ("legacy", "refactored")
    needs_amqp: ClassVar[bool] = False
    legacy_expected_to_fail: ClassVar[bool] = True

    def faults(self, ctx: ScenarioContext) -> list[FaultStep]:
        raise NotImplementedError

    def plan(self, ctx: ScenarioContext) -> LoadPlan:
        raise NotImplementedError

    def timeline(self, ctx: ScenarioContext) -> Timeline:
        """Baseline, fault window and recovery on the scenario's clock."""
        raise NotImplementedError

    def duration_s(self, ctx: ScenarioContext) -> float:
        return self.timeline(ctx).end_s

    def evaluate(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        raise NotImplementedError

    # optional hooks
    async def prepare(self, ctx: ScenarioContext) -> None:
        """Before the clock starts (seed data, bind a queue...)."""

    async def during_load(self, ctx: ScenarioContext, gen: LoadGenerator) -> None:
        """Runs concurrently with the load (e.g. trigger the nightly job)."""

    async def finish(self, ctx: ScenarioContext, m: Measurements) -> None:
        """After the load and the faults (e.g. wait for events to drain)."""

    def fault_effect(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        """Sanity checks that the fault *bit*: its effect measured outside the target (calls
        or answers the fakes saw, latency the client saw, events the broker delivered...)
        during the fault window (``chaos.scenarios.effects``). A fault the injector confirmed
        but that changed nothing makes the run ``invalid``, never ``pass``. Every scenario
        with fault steps overrides this; one that does not is invalid."""
        if not self.faults(ctx):
            return []
        return [
            Expectation.check(
                "fault_effect_declared",
                f"{self.name} names no check of its fault's effect (Scenario.fault_effect)",
                None,
                "==",
                1,
                role="sanity",
            )
        ]

    def expectations(self, ctx: ScenarioContext, m: Measurements) -> list[Expectation]:
        """What the engine judges: the scenario's expectations, then its fault's effect."""
        return [*self.evaluate(ctx, m), *self.fault_effect(ctx, m)]

    def expected_to_fail(self, target: str) -> bool:
        return target == "legacy" and self.legacy_expected_to_fail

    def request_timeout_s(self, ctx: ScenarioContext) -> float:
        # longer than the load balancer's timeout: a request the LB cuts shows up as its 504
        return ctx.lb_timeout_s * 1.5 + 2.0

    async def run(self, ctx: ScenarioContext) -> ScenarioResult:
        """Prepare, run load and faults on one clock, measure, evaluate."""

        started_at = now_iso()
        await self.prepare(ctx)
        metrics_before = await measure.scrape_metrics(ctx)
        steps = self.faults(ctx)
        duration = self.duration_s(ctx)
        ctx.t0 = time.monotonic()
        gen = LoadGenerator(
            ctx.endpoints.lb_url,
            self.plan(ctx),
            prefix=ctx.prefix,
            request_timeout_s=self.request_timeout_s(ctx),
            clock=ctx.now,
        )
        confirmed = True
        windows: list[dict[str, Any]] = []

        async def schedule() -> None:
            nonlocal confirmed
            events: list[tuple[float, int, FaultStep]] = []
            for step in steps:
                events += [(step.start_s, 1, step), (step.end_s, 0, step)]
            for at, is_apply, step in sorted(events, key=lambda e: (e[0], e[1])):
                await asyncio.sleep(max(0.0, at - ctx.now()))
                if is_apply:
                    ok = await step.apply(ctx)
                    confirmed = confirmed and ok
                    windows.append({"label": step.label, "start_s": round(ctx.now(), 3)})
                else:
                    await step.revert(ctx)
                    for w in windows:
                        if w["label"] == step.label and "end_s" not in w:
                            w["end_s"] = round(ctx.now(), 3)

        # the LB answers every request within its timeout: no need to wait longer than that
        load_task = asyncio.create_task(gen.run(duration, drain_s=ctx.lb_timeout_s + 1.0))
        side_task = asyncio.create_task(self.during_load(ctx, gen))
        fake_series: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        sampling = asyncio.Event()
        sampler = asyncio.create_task(measure.sample_fakes(ctx, fake_series, sampling))
        try:
            await schedule()
            await load_task
            await side_task
        finally:
            for task in (load_task, side_task):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            sampling.set()  # one last reading of the fakes' counters, then it stops
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sampler, 10.0)
            # a fault never outlives its scenario, whatever happened
            for step in steps:
                with contextlib.suppress(Exception):
                    await step.revert(ctx)
        for w in windows:
            w.setdefault("end_s", round(ctx.now(), 3))
        m = Measurements(samples=gen.samples, health=gen.health, windows=windows)
        m.faults_confirmed = confirmed
        m.metrics_before = metrics_before
        m.fake_series = fake_series
        await self.finish(ctx, m)
        await measure.collect(ctx, m, agent_id=gen.agent_id())
        expectations = self.expectations(ctx, m)
        return build_result(self, ctx, m, expectations, started_at)


def build_result(
    scenario: Scenario,
    ctx: ScenarioContext,
    m: Measurements,
    expectations: list[Expectation],
    started_at: str,
) -> ScenarioResult:
    samples = m.samples
    status_counts: Counter[str] = Counter(str(s.status) for s in samples if s.status is not None)
    endpoints: dict[str, dict[str, Any]] = {}
    for endpoint in sorted({s.endpoint for s in samples}):
        group = [s for s in samples if s.endpoint == endpoint]
        endpoints[endpoint] = {
            "count": len(group),
            "status_counts": dict(Counter(str(s.status) for s in group if s.status is not None)),
            "transport_errors": sum(1 for s in group if s.status is None),
            "latency_ms": _rounded(latency_summary(s.latency_ms for s in group)),
        }
    health_fault: list[Sample] = []
    for w in m.windows:
        health_fault += in_window(m.health, w["start_s"], w["end_s"])
    lag = m.gauge_max("event_loop_lag_max_seconds")
    result = ScenarioResult(
        target=ctx.target,
        scenario=scenario.name,
        kind="chaos",
        started_at=started_at,
        duration_s=round(ctx.now(), 2),
        expectations=expectations,
        expected_to_fail=scenario.expected_to_fail(ctx.target),
        description=scenario.description,
        requests_total=len(samples),
        transport_errors=sum(1 for s in samples if s.status is None),
        status_counts=dict(sorted(status_counts.items())),
        latency_ms=_rounded(latency_summary(s.latency_ms for s in samples)),
        endpoints=endpoints,
        health_latency_ms=_rounded(latency_summary(s.latency_ms for s in health_fault)),
        llm_calls=m.llm_calls(),
        breaker_transitions=m.breaker_transitions(),
        alerts=m.alerts(),
        integrity=m.integrity,
        event_loop_lag_max_s=None if lag is None else round(lag, 4),
        fault_windows=m.windows,
        series=bucket_series((s.t_s, s.status, s.latency_ms) for s in samples),
        notes=list(ctx.notes),
        extra={
            "health_all_ms": _rounded(latency_summary(s.latency_ms for s in m.health)),
            "health_series": bucket_series((s.t_s, s.status, s.latency_ms) for s in m.health),
            "facts": ctx.facts,
            **m.extra,
        },
    )
    return result


def _rounded(summary: Mapping[str, float]) -> dict[str, float]:
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in summary.items()}


def integrity_expectations(m: Measurements) -> list[Expectation]:
    """Nothing lost, duplicated or half-written in the DB (see chaos.measure.integrity)."""
    i = m.integrity
    return [
        Expectation.check(
            "no_lost_updates",
            "friendships whose score misses a processed conversation's delta, plus 200 "
            "answers with no processed row",
            i.get("lost_updates"),
            "==",
            0,
        ),
        Expectation.check(
            "no_duplicated_updates",
            "friendships whose score counts a conversation twice",
            i.get("duplicated_updates"),
            "==",
            0,
        ),
        Expectation.check(
            "nothing_half_written",
            "processed conversations without their friendship update (or the reverse)",
            i.get("half_written"),
            "==",
            0,
        ),
        Expectation.check(
            "topic_metrics_consistent",
            "topic mention counts that differ from the processed conversations naming them",
            i.get("topic_mismatches"),
            "==",
            0,
        ),
    ]
