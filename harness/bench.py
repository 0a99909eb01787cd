"""``bench``: sustainable throughput of both targets against the ideal bound.

The fake LLM answers in a fixed 200 ms (its ``latency_ms``, no fault), and a
closed-loop Locust user (``BenchSuggester``: no think time, so concurrency =
users) asks for activities (one LLM call each). The concurrency steps up; the
sustainable throughput is the best step without errors (< 1 %). Little's law
gives the ideal: ``concurrency / latency``, capped by the LLM connections the
refactored service may open (``workers x HTTP_MAX_CONNECTIONS``). Both targets
run in the same stack, one after the other (never at once: they would share
the two cores), with the same number of workers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from harness.loadrun import RawRun, RunOptions, fake_call, to_scenario_result
from harness.loadsuite import booted_stack, console, new_run, print_summary, write_run
from loadtests.metrics import read_samples
from loadtests.model import Fault, ScaledStage, Scenario
from testbed.processes import ProcessGroup
from testbed.results import Expectation, new_run_dir

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


def bench_stages(levels: Sequence[int], step_s: float) -> list[ScaledStage]:
    return [
        ScaledStage(
            f"c={c}", i * step_s, (i + 1) * step_s, c, float(max(c, 10)), ("BenchSuggester",)
        )
        for i, c in enumerate(levels)
    ]


def bench_scenario(latency_ms: int) -> Scenario:
    return Scenario(
        name="bench",
        description=f"closed loop of POST /v1/activities/suggest, LLM at a fixed {latency_ms} ms",
        stages=(),
        faults=(
            Fault(
                f"LLM fixed {latency_ms} ms",
                "llm_faults",
                0,
                None,
                {"config": {"latency_ms": latency_ms}},
                scale=False,
            ),
        ),
        legacy_expected_to_fail=True,
    )


def ideal_rps(concurrency: int, latency_ms: float, connection_limit: int | None) -> float:
    """Little's law: throughput = concurrency / latency, capped by the LLM connections."""
    in_flight = concurrency if connection_limit is None else min(concurrency, connection_limit)
    return in_flight / (latency_ms / 1000.0)


class CpuSampler(threading.Thread):
    """Samples the CPU (% of one core) of named process trees and of the machine, every
    second, with wall-clock times (``t``)."""

    def __init__(self, trees: dict[str, int], interval_s: float = 1.0) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.trees = dict(trees)  # label -> root pid; "load_generator" is added once it runs
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []
        self.stop_event = threading.Event()
        self._procs: dict[int, psutil.Process] = {}

    def _tree_cpu(self, pid: int) -> float:
        total = 0.0
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        for proc in procs:
            cached = self._procs.setdefault(proc.pid, proc)  # cpu_percent needs the same object
            try:
                total += cached.cpu_percent(None)
            except psutil.Error:
                continue
        return total

    def run(self) -> None:
        psutil.cpu_percent(None)
        while not self.stop_event.wait(self.interval_s):
            row = {"t": time.time(), "machine": psutil.cpu_percent(None)}
            for label, pid in list(self.trees.items()):
                row[label] = self._tree_cpu(pid)
            self.samples.append(row)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


def _pid_listening_on(group: ProcessGroup, url: str | None) -> int | None:
    """The ManagedProcess whose command line carries ``url``'s port (service or fake)."""
    if not url:
        return None
    port = url.rsplit(":", 1)[-1].split("/")[0]
    pattern = re.compile(rf"(?:[:= ]){port}(?:\D|$)")  # "--bind 127.0.0.1:P", "--port P"
    for process in group.processes:
        if pattern.search(" " + " ".join(str(a) for a in process.argv)):
            return process.pid
    return None


def step_figures(
    raw_dir: Path, stages: Sequence[ScaledStage], started_at: float, cpu: Sequence[dict[str, float]]
) -> list[dict[str, Any]]:
    samples = read_samples(raw_dir, started_at)
    rows = []
    for stage in stages:
        begin, end = stage.start_s + WARMUP_S, stage.end_s
        window = [s for s in samples if begin <= s.t_s < end]
        ok = sorted(s.latency_ms for s in window if not s.failed)
        failed = sum(1 for s in window if s.failed)
        cpu_rows = [c for c in cpu if begin <= c["t"] < end]

        def avg(key: str, rows_: list[dict[str, float]] = cpu_rows) -> float | None:
            values = [r[key] for r in rows_ if key in r]
            return round(sum(values) / len(values), 1) if values else None

        rows.append(
            {
                "concurrency": stage.users,
                "rps": round(len(ok) / (end - begin), 2),
                "requests": len(window),
                "error_rate": round(failed / len(window), 4) if window else None,
                "p50_ms": ok[len(ok) // 2] if ok else None,
                "p99_ms": ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else None,
                "load_generator_cpu_percent": avg("load_generator"),
                "service_cpu_percent": avg("service"),
                "llm_fake_cpu_percent": avg("llm_fake"),
                "machine_cpu_percent": avg("machine"),
            }
        )
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
) -> tuple[dict[str, Any], Path]:
    run_dir = new_run_dir("bench")
    stages = bench_stages(levels, step_s)
    scenario = bench_scenario(latency_ms)
    cpus = psutil.cpu_count() or 1
    console.print(
        f"[bold]bench[/] in {run_dir}: concurrency {list(levels)}, {step_s:g}s each, "
        f"LLM {latency_ms} ms, {workers} workers per target"
    )
    bench: dict[str, Any] = {"llm_latency_ms": latency_ms, "workers": workers, "steps": {}}
    with booted_stack(tuple(targets), time_scale, workers, run_dir / "logs") as handle:
        run = new_run("bench", time_scale, handle.facts)
        run.run_id = run_dir.name
        env = handle.endpoints.get("refactored", next(iter(handle.endpoints.values()))).env
        per_worker = int(env.get("HTTP_MAX_CONNECTIONS", DEFAULT_HTTP_MAX_CONNECTIONS))
        connection_limit = per_worker * workers
        bench["llm_connection_limit"] = connection_limit
        from harness.loadrun import run_locust_on_target

        for target in targets:  # one at a time: they must not share the cores
            endpoints = handle.endpoints[target]
            out = run_dir / target / "bench"
            options = RunOptions(
                time_scale=time_scale,
                processes=processes,
                kind="bench",
                run_id=run_dir.name,
                stages=stages,
            )
            trees = {
                "service": _pid_listening_on(handle.group, endpoints.service_url),
                "llm_fake": _pid_listening_on(
                    handle.group,
                    endpoints.llm_control_url.rsplit("/_control", 1)[0]
                    if endpoints.llm_control_url
                    else None,
                ),
            }
            sampler = CpuSampler({k: v for k, v in trees.items() if v})
            console.print(f"  {target} ...")
            raw = _run_with_sampler(
                handle, endpoints, scenario, out, options, sampler, run_locust_on_target
            )
            steps = step_figures(out, stages, raw.started_at, _rebase(sampler, raw.started_at))
            llm_stats = fake_call(endpoints.llm_control_url, "GET", "/stats") or {}
            best = sustainable(steps)
            figure = best or best_goodput(steps)  # legacy may never run error-free
            after = [st for st in steps if best and st["concurrency"] > best["concurrency"]]
            limit = limit_hit(
                best,
                next_step=after[0] if after else None,
                workers=workers,
                processes=processes or 1,
                latency_ms=latency_ms,
                connection_limit=connection_limit,
                cpus=cpus,
            )
            bench["steps"][target] = steps
            bench[f"{target}_rps"] = figure["rps"] if figure else 0.0
            bench[f"{target}_concurrency"] = figure["concurrency"] if figure else None
            bench[f"{target}_error_free"] = best is not None
            bench[f"{target}_error_rate"] = figure["error_rate"] if figure else None
            bench[f"{target}_limit_hit"] = limit
            bench[f"{target}_llm_max_in_flight"] = llm_stats.get("max_in_flight")
            result = to_scenario_result(raw, time_scale, kind="bench")
            ideal = (
                ideal_rps(figure["concurrency"], latency_ms, connection_limit) if figure else None
            )
            result.expectations = [
                Expectation.check(
                    "bench_load_generated",
                    "requests were sent",
                    raw.requests_total,
                    ">",
                    0,
                    role="sanity",
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
            result.extra.update({"steps": steps, "limit_hit": limit, "ideal_rps": ideal})
            run.results.append(result)
    refactored = bench.get("refactored_rps") or 0.0
    legacy = bench.get("legacy_rps") or 0.0
    concurrency = bench.get("refactored_concurrency") or max(levels)
    ideal = ideal_rps(concurrency, latency_ms, bench.get("llm_connection_limit"))
    cpu_values = [
        s["load_generator_cpu_percent"]
        for steps in bench["steps"].values()
        for s in steps
        if s["load_generator_cpu_percent"] is not None
    ]
    bench.update(
        {
            "concurrency": concurrency,
            "ideal_rps": round(ideal, 2),
            "ratio_to_ideal": round(refactored / ideal, 3) if ideal else None,
            "ratio_to_legacy": round(refactored / legacy, 2) if legacy else None,
            "definition": "rps = successful answers/s of the best concurrency step with < 1 % "
            "errors (else the best step at all, *_error_free false); ideal = Little's law "
            "min(concurrency, llm_connection_limit) / llm latency",
            "load_generator_cpu_percent_max": max(cpu_values) if cpu_values else None,
            "limit_hit": bench.get("refactored_limit_hit"),
            "cpus": cpus,
        }
    )
    (run_dir / "bench.json").write_text(json.dumps(bench, indent=2) + "\n")
    write_run(run, run_dir)
    print_summary(run)
    console.print(
        f"refactored {refactored:.1f} req/s at c={concurrency} "
        f"({bench['ratio_to_ideal']} of ideal {ideal:.0f}), legacy {legacy:.1f} req/s "
        f"(x{bench['ratio_to_legacy']}); limit: {bench['limit_hit']}"
    )
    return bench, run_dir


def _rebase(sampler: CpuSampler, started_at: float) -> list[dict[str, float]]:
    """CPU samples with ``t`` in seconds since the Locust test started."""
    return [{**row, "t": row["t"] - started_at} for row in sampler.samples]


def _run_with_sampler(
    handle: Any,
    endpoints: Any,
    scenario: Scenario,
    out: Path,
    options: RunOptions,
    sampler: CpuSampler,
    runner: Any,
) -> RawRun:
    """Run Locust with the CPU sampler watching the Locust process too."""
    watcher = threading.Thread(target=_attach_locust, args=(handle.group, sampler), daemon=True)
    sampler.start()
    watcher.start()
    try:
        return runner(handle.group, endpoints, scenario, out, options)
    finally:
        sampler.finish()


def _attach_locust(group: ProcessGroup, sampler: CpuSampler) -> None:
    """Add the Locust process (started by the runner a moment later) to the sampled trees."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for process in reversed(group.processes):
            if process.name.startswith("locust-") and process.alive():
                sampler.trees["load_generator"] = process.pid
                return
        time.sleep(0.05)
