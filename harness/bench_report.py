"""``bench.md``: the bench's figures as tables, one per workload (from ``bench.json``)."""

from __future__ import annotations

from typing import Any

from harness.bench_cpu import LOAD_GENERATOR, SERVICE

# the columns' order: the service first, the load generator last, the rest by name
FIRST, LAST = (SERVICE,), (LOAD_GENERATOR,)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _labels(targets: dict[str, Any]) -> list[str]:
    seen = {
        label
        for t in targets.values()
        for step in t["steps"]
        for label in step.get("cpu_ms_per_request") or {}
    }
    middle = sorted(seen - set(FIRST) - set(LAST))
    return [x for x in FIRST if x in seen] + middle + [x for x in LAST if x in seen]


def workload_table(name: str, figures: dict[str, Any]) -> list[str]:
    targets = figures["targets"]
    labels = _labels(targets)
    lines = [
        f"## {name}",
        "",
        f"{figures['description']}. Ideal: {figures['ideal']}. "
        f"Refactored / legacy: x{_fmt(figures.get('ratio_to_legacy'), 2)}.",
        "",
    ]
    for target, t in targets.items():
        service_ms = (t.get("cpu_ms_per_request") or {}).get(SERVICE)
        lines.append(
            f"* **{target}**: {_fmt(t['rps'])} req/s at c={t['concurrency']}, "
            f"{_fmt(100 * (t['ratio_to_ideal'] or 0.0), 0)} % of the ideal "
            f"{_fmt(t['ideal_rps'])}, p99 {_fmt(t['p99_ms'], 0)} ms, service "
            f"{_fmt(service_ms, 2)} CPU ms per request; limit: {t['limit_hit']}"
            + ("" if t["error_free"] else " (no step under 1 % errors)")
        )
    lines.append("")
    header = ["target", "c", "req/s", "ideal", "% ideal", "p99 ms", "errors"]
    header += [f"{label} CPU ms/req" for label in labels] + ["service % core", "machine %"]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for target, t in targets.items():
        for step in t["steps"]:
            ms = step.get("cpu_ms_per_request") or {}
            ratio = step.get("ratio_to_ideal")
            cells = [
                target,
                str(step["concurrency"]),
                _fmt(step["rps"]),
                _fmt(step.get("ideal_rps"), 0),
                _fmt(100 * ratio if ratio is not None else None, 0),
                _fmt(step["p99_ms"], 0),
                _fmt(100 * step["error_rate"] if step["error_rate"] is not None else None, 1)
                + " %",
            ]
            cells += [_fmt(ms.get(label), 2) for label in labels]
            cells += [_fmt(step.get("service_cpu_percent")), _fmt(step.get("machine_cpu_percent"))]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def bench_markdown(bench: dict[str, Any], run_id: str) -> str:
    lines = [
        f"# bench {run_id}",
        "",
        f"LLM fixed {bench['llm_latency_ms']} ms, {bench['workers']} workers per target, "
        f"{bench['cpus']} CPUs, TIME_SCALE {bench['time_scale']}, {bench['step_s']:g} s per "
        f"step (the first {bench['warmup_s']:g} s left out). req/s counts answers in full "
        "(200, no fallback). CPU ms/req: CPU time (user + system) of each process tree "
        "(root and every descendant: the service is gunicorn's master and all its workers) "
        "over the step's window, divided by the answers in full in it. Processes measured:",
        "",
    ]
    for target, named in bench.get("processes", {}).items():
        listed = ", ".join(f"{label} = `{name}`" for label, name in sorted(named.items()))
        lines.append(f"* {target}: {listed}; load_generator = its Locust process tree")
    lines.append("")
    for name, figures in bench["workloads"].items():
        lines += workload_table(name, figures)
    return "\n".join(lines)
