"""``bench``: sustainable throughput and CPU cost of both targets against the ideal bound.

The fake LLM answers in a fixed 200 ms (its ``latency_ms``, no fault), and a closed-loop
Locust user (no think time, so concurrency = users) runs one workload
(:mod:`harness.bench_workloads`): ``suggest`` (one LLM call per request) and
``conversation_end`` (three concurrent LLM calls, the Memory API, one transaction with the
outbox). The concurrency steps up; the sustainable throughput is the best step without
errors (< 1 %). Little's law gives the ideal: concurrency / the slowest concurrent call,
capped by the LLM connections the refactored service may open (``workers x
HTTP_MAX_CONNECTIONS``). Each step also records the CPU seconds per successful request of
every process of the stack (:mod:`harness.bench_cpu`): the service (gunicorn's master and
all its workers), Caddy, Toxiproxy, each fake, the load generator. Both targets run in the
same stack, one after the other (never at once: they would share the two cores), with the
same number of workers. Writes ``bench.json`` and ``bench.md`` (:mod:`harness.bench_report`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from harness.bench_cpu import LOAD_GENERATOR, MACHINE, SERVICE, CpuSampler, label_of, window_cpu
from harness.bench_report import bench_markdown
from harness.bench_workloads import (
    SUGGEST,
    WORKLOADS,
    Workload,
    bench_scenario,
    bench_stages,
    ideal_rps,
)
from harness.loadrun import RawRun, RunOptions, run_locust_on_target, to_scenario_result
from harness.loadsuite import StackHandle, booted_stack, console, new_run, print_summary, write_run
from loadtests.metrics import Sample, read_samples
from loadtests.model import ScaledStage, Scenario
from loadtests.observe import llm_stats as fake_llm_stats
from testbed.processes import ProcessGroup
from testbed.results import Expectation, RunResults
from testbed.run_dirs import new_run_dir
from testbed.target import TargetInfo

__all__ = ["bench_stages", "ideal_rps", "run_bench"]

DEFAULT_LEVELS = (4, 8, 16, 32, 64, 128)
DEFAULT_STEP_S = 8.0
WARMUP_S = 3.0  # skipped at the start of each step (spawning, connection set-up)
LLM_LATENCY_MS = 200
DEFAULT_HTTP_MAX_CONNECTIONS = 256  # refactored's setting when the env does not say
MAX_ERROR_RATE = 0.01
# The bench's verdict: throughput must grow with concurrency. A blocked event loop stays
# flat (legacy: x1.0 from c=4 to c=128); an async worker grows ~x10 before a core saturates,
# so x3 sits far from both on a noisy 2-core machine.
MIN_SCALING = 3.0
MIN_SCALING_SPAN = 8  # highest / lowest concurrency needed for the scaling to mean anything


def answered_in_full(sample: Sample) -> bool:
    """A 200 that used no fallback: what a request's cost is divided by (a fallback answer
    is cheaper and would flatter the figure; a 429 or a 5xx did not do the work)."""
    return sample.status == 200 and sample.degraded is not True


def step_figures(
    raw_dir: Path,
    stages: Sequence[ScaledStage],
    started_at: float,
    cpu: Sequence[dict[str, float]],
    *,
    endpoint: str | None = None,
    ideal: Callable[[int], float] | None = None,
    cpus: int = 1,
) -> list[dict[str, Any]]:
    """Per concurrency step (its first ``WARMUP_S`` left out): throughput, latency, errors,
    and each process tree's CPU (% of a core, ms per successful request)."""
    samples = [s for s in read_samples(raw_dir, started_at) if endpoint in (None, s.endpoint)]
    rows = []
    for stage in stages:
        begin, end = stage.start_s + WARMUP_S, stage.end_s
        window = [s for s in samples if begin <= s.t_s < end]
        ok = sorted(s.latency_ms for s in window if answered_in_full(s))
        failed = sum(1 for s in window if s.failed)
        rps = round(len(ok) / (end - begin), 2)
        used = window_cpu(cpu, begin, end)
        row: dict[str, Any] = {
            "concurrency": stage.users,
            "rps": rps,
            "requests": len(window),
            "error_rate": round(failed / len(window), 4) if window else None,
            "degraded": sum(1 for s in window if s.degraded),
            "p50_ms": ok[len(ok) // 2] if ok else None,
            "p99_ms": ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else None,
        }
        if ideal is not None:
            row["ideal_rps"] = round(ideal(stage.users), 1)
            row["ratio_to_ideal"] = round(rps / row["ideal_rps"], 3) if row["ideal_rps"] else None
        if used is not None:
            # the requests answered in full that started inside the CPU window
            in_cpu = sum(
                1 for s in window if used.begin_s <= s.t_s < used.end_s and answered_in_full(s)
            )
            row["cpu_ms_per_request"] = used.ms_per_request(in_cpu)
            row["cpu_percent"] = {k: used.percent(k) for k in used.seconds if k != MACHINE}
            machine = used.percent(MACHINE)
            row["machine_cpu_percent"] = round(machine / cpus, 1) if machine is not None else None
        percent = row.get("cpu_percent", {})
        row["service_cpu_percent"] = percent.get(SERVICE)
        row["load_generator_cpu_percent"] = percent.get(LOAD_GENERATOR)
        row["llm_fake_cpu_percent"] = percent.get("fake_llm")
        row.setdefault("machine_cpu_percent", None)
        rows.append(row)
    return rows


def sustainable(steps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The step with the best throughput and fewer than 1 % errors (None: errors everywhere)."""
    good = [s for s in steps if s["error_rate"] is not None and s["error_rate"] < MAX_ERROR_RATE]
    return max(good, key=lambda s: s["rps"]) if good else None


def best_goodput(steps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The step with the most successful answers per second, errors or not (the fallback
    figure for a target that never runs error-free, e.g. legacy)."""
    measured = [s for s in steps if s["requests"]]
    return max(measured, key=lambda s: s["rps"]) if measured else None


def throughput_scaling(steps: Sequence[dict[str, Any]]) -> float | None:
    """Best error-free throughput over the throughput of the lowest concurrency step.

    None when the steps span too little concurrency (fewer than x8) to tell, or when the
    lowest step served nothing.
    """
    measured = [s for s in steps if s["requests"]]
    if not measured:
        return None
    lowest = min(measured, key=lambda s: s["concurrency"])
    highest = max(s["concurrency"] for s in measured)
    if highest < MIN_SCALING_SPAN * lowest["concurrency"] or not lowest["rps"]:
        return None
    best = sustainable(steps) or best_goodput(steps)
    return round(best["rps"] / lowest["rps"], 2) if best else None


def limit_hit(
    step: dict[str, Any] | None,
    *,
    workers: int,
    processes: int,
    latency_ms: float,
    connection_limit: int | None,
    cpus: int,
    next_step: dict[str, Any] | None = None,
) -> str:
    """Which limit stopped the throughput from growing.

    Read on the step *after* the sustainable one when there is one (where growth stopped
    or errors appeared), else on the sustainable step itself.
    """
    if step is None:
        return "errors at every concurrency: no sustainable throughput"
    latency_s = latency_ms / 1000.0
    ideal = ideal_rps(step["concurrency"], latency_ms, connection_limit)
    if step["rps"] <= 1.5 * workers / latency_s and step["rps"] < 0.5 * ideal:
        return "one blocking call at a time per worker (the event loop is blocked)"
    if next_step is None and step["rps"] >= 0.9 * ideal:
        if connection_limit is not None and step["concurrency"] >= connection_limit:
            return "LLM connection limit (Little's law cap)"
        return "Little's law bound: concurrency / LLM latency (more concurrency would go further)"
    probe = next_step or step
    if (probe.get("load_generator_cpu_percent") or 0) >= 90 * max(1, processes):
        return "load generator CPU"
    if (probe.get("service_cpu_percent") or 0) >= 85 * min(workers, cpus):
        return "service CPU"
    if (probe.get("machine_cpu_percent") or 0) >= 90:
        return "machine CPU (service, load generator and fakes share the cores)"
    if (probe.get("llm_fake_cpu_percent") or 0) >= 90:
        return "LLM fake CPU"
    if step["rps"] >= 0.9 * ideal:
        return "Little's law bound: concurrency / LLM latency"
    return "service queueing: latency grows with concurrency before a CPU saturates"


def run_bench(
    *,
    time_scale: float,
    workers: int = 2,
    levels: Sequence[int] = DEFAULT_LEVELS,
    step_s: float = DEFAULT_STEP_S,
    latency_ms: int = LLM_LATENCY_MS,
    processes: int = 0,
    targets: Sequence[str] = ("legacy", "refactored"),
    workloads: Sequence[Workload] = tuple(WORKLOADS.values()),
) -> tuple[dict[str, Any], Path]:
    run_dir = new_run_dir("bench")
    cpus = psutil.cpu_count() or 1
    console.print(
        f"[bold]bench[/] in {run_dir}: {', '.join(w.name for w in workloads)}; concurrency "
        f"{list(levels)}, {step_s:g}s each, LLM {latency_ms} ms, {workers} workers per target"
    )
    bench: dict[str, Any] = {
        "llm_latency_ms": latency_ms,
        "workers": workers,
        "cpus": cpus,
        "time_scale": time_scale,
        "levels": list(levels),
        "step_s": step_s,
        "warmup_s": WARMUP_S,
        "workloads": {},
    }
    with booted_stack(tuple(targets), time_scale, workers, run_dir / "logs") as handle:
        run = new_run("bench", time_scale, handle.facts)
        run.run_id = run_dir.name
        env = handle.targets.get("refactored", next(iter(handle.targets.values()))).env
        per_worker = int(env.get("HTTP_MAX_CONNECTIONS", DEFAULT_HTTP_MAX_CONNECTIONS))
        bench["llm_connection_limit"] = per_worker * workers
        bench["processes"] = {t: _stack_processes(handle.group, t) for t in targets}
        for workload in workloads:
            figures: dict[str, Any] = {
                "description": workload.description(latency_ms),
                "ideal": f"min(concurrency, {bench['llm_connection_limit']} LLM connections / "
                f"{workload.concurrent_llm_calls} per request) / {latency_ms} ms (the slowest "
                "of the calls a request makes at once)",
                "targets": {},
            }
            for target in targets:  # one at a time: they must not share the cores
                figures["targets"][target] = _bench_target(
                    handle, run, run_dir, target, workload, bench, processes
                )
            figures.update(_versus(figures["targets"]))
            bench["workloads"][workload.name] = figures
    bench.update(_suggest_summary(bench, levels, latency_ms))
    (run_dir / "bench.json").write_text(json.dumps(bench, indent=2) + "\n")
    (run_dir / "bench.md").write_text(bench_markdown(bench, run_dir.name))
    write_run(run, run_dir)
    print_summary(run)
    for name, figures in bench["workloads"].items():
        for target, t in figures["targets"].items():
            cpu = (t.get("cpu_ms_per_request") or {}).get(SERVICE)
            console.print(
                f"{name} {target}: {t['rps']:.1f} req/s at c={t['concurrency']} "
                f"({t['ratio_to_ideal']} of ideal {t['ideal_rps']}), service CPU {cpu} ms per "
                f"request; limit: {t['limit_hit']}"
            )
        console.print(f"{name}: refactored / legacy x{figures.get('ratio_to_legacy')}")
    console.print(f"written {run_dir / 'bench.json'} and {run_dir / 'bench.md'}")
    return bench, run_dir


def _bench_target(
    handle: StackHandle,
    run: RunResults,
    run_dir: Path,
    target: str,
    workload: Workload,
    bench: dict[str, Any],
    processes: int,
) -> dict[str, Any]:
    """One workload's concurrency steps on one target: its figures and a ScenarioResult."""
    levels, step_s, latency_ms = bench["levels"], bench["step_s"], bench["llm_latency_ms"]
    workers, cpus, limit = bench["workers"], bench["cpus"], bench["llm_connection_limit"]
    target_info = handle.targets[target]
    stages = bench_stages(levels, step_s, workload.user_class)
    scenario = bench_scenario(latency_ms, workload)
    out = run_dir / target / scenario.name
    options = RunOptions(
        time_scale=bench["time_scale"],
        processes=processes,
        kind="bench",
        run_id=run_dir.name,
        stages=stages,
    )
    sampler = CpuSampler(_stack_trees(handle.group, target))
    console.print(f"  {workload.name} on {target} ...")
    raw = _run_with_sampler(handle, target_info, scenario, out, options, sampler)

    def ideal(concurrency: int) -> float:
        return ideal_rps(concurrency, latency_ms, limit, workload.concurrent_llm_calls)

    steps = step_figures(
        out,
        stages,
        raw.started_at,
        _rebase(sampler, raw.started_at),
        endpoint=workload.endpoint,
        ideal=ideal,
        cpus=cpus,
    )
    llm_stats = fake_llm_stats(target_info)
    best = sustainable(steps)
    figure = best or best_goodput(steps)  # legacy may never run error-free
    after = [st for st in steps if best and st["concurrency"] > best["concurrency"]]
    limit_name = limit_hit(
        best,
        next_step=after[0] if after else None,
        workers=workers,
        processes=processes or 1,
        latency_ms=latency_ms,
        connection_limit=limit // workload.concurrent_llm_calls,
        cpus=cpus,
    )
    summary = {
        "rps": figure["rps"] if figure else 0.0,
        "concurrency": figure["concurrency"] if figure else None,
        "ideal_rps": figure.get("ideal_rps") if figure else None,
        "ratio_to_ideal": figure.get("ratio_to_ideal") if figure else None,
        "p99_ms": figure["p99_ms"] if figure else None,
        "cpu_ms_per_request": figure.get("cpu_ms_per_request") if figure else None,
        "error_free": best is not None,
        "error_rate": figure["error_rate"] if figure else None,
        "limit_hit": limit_name,
        "llm_max_in_flight": llm_stats.get("max_in_flight"),
        "cpu_pids": sampler.pids(),
        "steps": steps,
    }
    result = to_scenario_result(raw, bench["time_scale"], kind="bench")
    result.expectations = [
        Expectation.check(
            "bench_load_generated", "requests were sent", raw.requests_total, ">", 0, role="sanity"
        ),
        Expectation.check(
            "error_free_throughput",
            "some concurrency step runs with fewer than 1 % errors",
            1.0 if best else 0.0,
            ">=",
            1.0,
        ),
        Expectation.check(
            "throughput_scales_with_concurrency",
            "sustainable req/s over req/s at the lowest concurrency "
            "(a blocked event loop stays at x1)",
            throughput_scaling(steps),
            ">=",
            MIN_SCALING,
        ),
    ]
    result.extra.update(
        {
            "steps": steps,
            "limit_hit": limit_name,
            "ideal_rps": summary["ideal_rps"],
            "workload": workload.name,
        }
    )
    run.results.append(result)
    return summary


def _versus(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    refactored = (targets.get("refactored") or {}).get("rps") or 0.0
    legacy = (targets.get("legacy") or {}).get("rps") or 0.0
    return {"ratio_to_legacy": round(refactored / legacy, 2) if legacy else None}


def _suggest_summary(
    bench: dict[str, Any], levels: Sequence[int], latency_ms: int
) -> dict[str, Any]:
    """The top-level figures of earlier bench.json files, from the suggest workload."""
    figures = bench["workloads"].get(SUGGEST.name)
    if figures is None:
        return {}
    flat: dict[str, Any] = {"steps": {}}
    for target, t in figures["targets"].items():
        flat["steps"][target] = t["steps"]
        flat[f"{target}_rps"] = t["rps"]
        flat[f"{target}_concurrency"] = t["concurrency"]
        flat[f"{target}_error_free"] = t["error_free"]
        flat[f"{target}_error_rate"] = t["error_rate"]
        flat[f"{target}_limit_hit"] = t["limit_hit"]
        flat[f"{target}_llm_max_in_flight"] = t["llm_max_in_flight"]
    refactored = figures["targets"].get("refactored", {})
    concurrency = refactored.get("concurrency") or max(levels)
    ideal = ideal_rps(concurrency, latency_ms, bench.get("llm_connection_limit"))
    cpu_values = [
        s["load_generator_cpu_percent"]
        for steps in flat["steps"].values()
        for s in steps
        if s["load_generator_cpu_percent"] is not None
    ]
    flat.update(
        {
            "concurrency": concurrency,
            "ideal_rps": round(ideal, 2),
            "ratio_to_ideal": round((refactored.get("rps") or 0.0) / ideal, 3) if ideal else None,
            "ratio_to_legacy": figures.get("ratio_to_legacy"),
            "definition": "rps = answers in full (200, no fallback) per second of the best "
            "concurrency step with < 1 % errors (else the best step at all, *_error_free "
            "false); ideal = Little's law min(concurrency, llm_connection_limit / LLM calls "
            "at once) / llm latency; cpu_ms_per_request = CPU ms (user + system) of each "
            "process tree over the step's window / the answers in full that started in it",
            "load_generator_cpu_percent_max": max(cpu_values) if cpu_values else None,
            "limit_hit": refactored.get("limit_hit"),
        }
    )
    return flat


def _stack_processes(group: ProcessGroup, target: str) -> dict[str, str]:
    """Label -> process name of the stack's processes the bench measures for ``target``."""
    named = {label_of(p.name, target): p.name for p in group.processes}
    named.pop(None, None)
    return {label: name for label, name in named.items() if label is not None}


def _stack_trees(group: ProcessGroup, target: str) -> dict[str, int]:
    trees = {}
    for process in group.processes:
        label = label_of(process.name, target)
        if label is not None and label != LOAD_GENERATOR and process.alive():
            trees[label] = process.pid
    return trees


def _rebase(sampler: CpuSampler, started_at: float) -> list[dict[str, float]]:
    """CPU samples with ``t`` in seconds since the Locust test started."""
    return [{**row, "t": row["t"] - started_at} for row in sampler.samples]


def _run_with_sampler(
    handle: StackHandle,
    target: TargetInfo,
    scenario: Scenario,
    out: Path,
    options: RunOptions,
    sampler: CpuSampler,
) -> RawRun:
    """Run Locust with the CPU sampler watching the stack and the Locust process too."""
    stop = threading.Event()
    watcher = threading.Thread(
        target=_attach_locust, args=(handle.group, sampler, target.name, stop), daemon=True
    )
    sampler.start()
    watcher.start()
    try:
        return run_locust_on_target(handle.group, target, scenario, out, options)
    finally:
        stop.set()
        sampler.finish()


def _attach_locust(
    group: ProcessGroup, sampler: CpuSampler, target: str, stop: threading.Event
) -> None:
    """Add the Locust process (started by the runner a moment later) to the sampled trees."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not stop.is_set():
        for process in reversed(group.processes):
            if label_of(process.name, target) == LOAD_GENERATOR and process.alive():
                sampler.watch(LOAD_GENERATOR, process.pid)
                return
        time.sleep(0.05)
