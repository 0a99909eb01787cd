"""``ablation``: the key scenarios on refactored with each resilience policy disabled.

For every policy of ``RESILIENCE_DISABLE`` (and the all-enabled baseline) the
refactored service is restarted with that policy off, on a fresh database, and
the scenarios run again: Locust load scenarios (shortened by a duration factor
so the matrix stays around 10-15 minutes at TIME_SCALE=0.1) and chaos scenarios
(``chaos:<name>``) for the failure modes a load shape cannot show: a broker
outage (outbox) and a nightly job over seeded friendships on a slow database
(job bulkhead). The fix x failure-mode table says which failure returns without
which fix; a policy whose removal changes nothing is reported as a finding (its
variant's verdict is ``unexpected_pass``), never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chaos.scenarios import registry
from harness.chaos_run import amqp_url_of, run_scenario
from harness.loadrun import RunOptions, to_scenario_result
from harness.loadsuite import (
    booted_stack,
    console,
    new_run,
    print_summary,
    run_on_targets,
    write_run,
)
from harness.markdown import Markdown, table
from loadtests.model import Scenario
from loadtests.scenarios import get_scenario
from testbed.policies import POLICIES
from testbed.results import RunResults, ScenarioResult
from testbed.run_dirs import new_run_dir
from testbed.stack import fresh_target_database, restart_service

# three_am covers the slow LLM beyond the LB timeout and the nightly job; llm_flaky transient
# errors (retry); the chaos scenarios a broker outage (outbox) and a nightly job over 80
# seeded friendships on a slow database (job bulkhead). llm_slow, the load
# db_pool_exhaustion and any other chaos:<name> can be added with --scenario.
CHAOS_PREFIX = "chaos:"
DEFAULT_SCENARIOS = (  # run in this order: llm_flaky first, before anything opens a breaker
    "llm_flaky",
    "three_am",
    "llm_429_storm",
    "rate_limit_burst",
    "chaos:db_pool_exhaustion",
    "chaos:broker_down",
)
BASELINE = ""  # the variant with every policy enabled
DEFAULT_DURATION_FACTOR = 0.2


class UnknownPolicyError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown policy {name!r}; valid policies: {', '.join(POLICIES)}")


def parse_policies(value: str) -> list[str]:
    names = list(POLICIES) if value == "all" else [n.strip() for n in value.split(",") if n]
    for name in names:
        if name not in POLICIES:
            raise UnknownPolicyError(name)
    return names


def regressions(baseline: ScenarioResult | None, variant: ScenarioResult) -> list[str]:
    """Resilience thresholds the baseline met and this variant breaks: the failure that
    returns without the fix."""
    held = {e.name for e in (baseline.expectations if baseline else []) if e.passed}
    return [
        e.name
        for e in variant.expectations
        if e.role == "resilience" and not e.passed and (baseline is None or e.name in held)
    ]


def _key_figures(result: ScenarioResult) -> str:
    m = result.extra.get("metrics", {})
    if result.scenario.startswith(CHAOS_PREFIX):
        m = {"lb_504_count": result.status_counts.get("504", 0)}
    parts = [f"504={m.get('lb_504_count', '-')}"]
    if result.latency_ms.get("p99") is not None:
        parts.append(f"p99={result.latency_ms['p99']:.0f}ms")
    if m.get("llm_calls_per_conversation") is not None:
        parts.append(f"llm/conv={m['llm_calls_per_conversation']:.1f}")
    if m.get("burst_429_fraction") is not None:
        parts.append(f"burst429={m['burst_429_fraction']:.0%}")
    if m.get("conversation_end_degraded_rate") is not None:
        parts.append(f"degraded={m['conversation_end_degraded_rate']:.0%}")
    broken_integrity = {
        e.name: e.observed
        for e in result.expectations
        if e.name in ("no_lost_events", "no_lost_updates") and not e.passed
    }
    parts += [f"{name}={value}" for name, value in broken_integrity.items()]
    return ", ".join(parts)


def ablation_table(run: RunResults) -> tuple[list[str], list[list[str]], list[str]]:
    """Rows = disabled policy, columns = scenarios; a cell names the thresholds that break
    (the failure mode returning) with the key figures. Also returns the findings."""
    scenarios = sorted({r.scenario for r in run.results}, key=_scenario_order)
    variants = [BASELINE] + [p for p in POLICIES if any(r.variant == p for r in run.results)]
    header = ["disabled policy", *scenarios]
    rows: list[list[str]] = []
    findings: list[str] = []
    for variant in variants:
        row = [variant or "(none: all enabled)"]
        changed = False
        for scenario in scenarios:
            result = run.find("refactored", scenario, variant)
            if result is None:
                row.append("not run")
                continue
            if result.verdict == "invalid":
                row.append(f"INVALID ({_key_figures(result)})")
                continue
            if variant == BASELINE:
                broken = [e.name for e in result.failed_expectations()]
                row.append(
                    ("FAILS " + ", ".join(broken) if broken else "ok")
                    + f" ({_key_figures(result)})"
                )
                continue
            back = regressions(run.find("refactored", scenario, BASELINE), result)
            changed = changed or bool(back)
            row.append(
                ("**" + ", ".join(back) + "**" if back else "no change")
                + f" ({_key_figures(result)})"
            )
        rows.append(row)
        if variant != BASELINE and not changed:
            findings.append(
                f"disabling `{variant}` changed no threshold in {', '.join(scenarios)}: "
                "either these scenarios do not exercise it or the fix is not what holds them"
            )
    return header, rows, findings


def _scenario_order(name: str) -> int:
    order = (*DEFAULT_SCENARIOS, "llm_slow", "db_pool_exhaustion")
    return order.index(name) if name in order else len(order)


def split_scenarios(names: Sequence[str]) -> tuple[list[Scenario], list[Any]]:
    """(load scenarios, chaos scenarios) from names; ``chaos:<name>`` is a chaos scenario.
    Unknown names raise ValueError listing the valid ones."""

    load: list[Scenario] = []
    chaos: list[Any] = []
    for name in names:
        if name.startswith(CHAOS_PREFIX):
            known = registry()
            chaos_name = name.removeprefix(CHAOS_PREFIX)
            if chaos_name not in known:
                raise ValueError(
                    f"unknown chaos scenario {chaos_name!r}; valid: "
                    + ", ".join(CHAOS_PREFIX + n for n in known)
                )
            chaos.append(known[chaos_name])
        else:
            load.append(get_scenario(name))
    return load, chaos


def ablation_markdown(run: RunResults) -> str:
    header, rows, findings = ablation_table(run)
    lines = [
        f"# Ablation {run.run_id}",
        "",
        f"Refactored service, TIME_SCALE={run.time_scale}; each row disables one resilience "
        "policy (`RESILIENCE_DISABLE`). A cell names the thresholds that the all-enabled "
        "baseline met and that break without the fix (**bold**: the failure mode returns), "
        "with key figures: LB 504s, p99, LLM calls per conversation, share of the burster's "
        "requests answered 429, share of conversation ends answered with a fallback "
        "(degraded), broken integrity counts.",
        "",
        *table(header, [[Markdown(cell) for cell in row] for row in rows]),  # cells bold
        "",
        "## Findings",
        "",
    ]
    none = ["- every disabled policy broke at least one threshold"]
    lines += [f"- {f}" for f in findings] or none
    return "\n".join(lines) + "\n"


def _fixed_dir(path: Path) -> Callable[[str], Path]:
    return lambda _target: path


def run_ablation(
    scenario_names: Sequence[str] = DEFAULT_SCENARIOS,
    policies: Sequence[str] = POLICIES,
    *,
    time_scale: float,
    workers: int = 2,
    duration_factor: float = DEFAULT_DURATION_FACTOR,
) -> tuple[RunResults, Path]:
    scenarios, chaos_scenarios = split_scenarios(scenario_names)
    run_dir = new_run_dir("ablation")
    console.print(
        f"[bold]ablation[/] in {run_dir}: {len(policies)} policies x "
        f"{len(scenarios) + len(chaos_scenarios)} scenarios (duration factor {duration_factor})"
    )
    with booted_stack(("refactored",), time_scale, workers, run_dir / "logs") as handle:
        run = new_run("ablation", time_scale, {**handle.facts, "duration_factor": duration_factor})
        run.run_id = run_dir.name
        for index, variant in enumerate((BASELINE, *policies)):
            if variant != BASELINE:  # the stack just booted, all enabled, on a fresh database
                _restart_variant(handle, variant)
            label = variant or "baseline"
            options = RunOptions(
                time_scale=time_scale,
                duration_factor=duration_factor,
                kind="ablation",
                variant=label,
                run_id=run_dir.name,
            )
            for scenario in scenarios:
                console.print(f"  RESILIENCE_DISABLE={variant or '(none)'}: {scenario.name}")
                out_dir = run_dir / "refactored" / label / scenario.name
                raws = run_on_targets(
                    handle, scenario, run_dir, options, subdir=_fixed_dir(out_dir)
                )
                run.results.append(
                    to_scenario_result(
                        raws["refactored"],
                        time_scale,
                        kind="ablation",
                        variant=variant,
                        duration_factor=duration_factor,
                        # without a fix a failure is the expected outcome; a pass is a finding
                        expected_to_fail=variant != BASELINE,
                    )
                )
            for chaos_scenario in chaos_scenarios:
                name = CHAOS_PREFIX + chaos_scenario.name
                console.print(f"  RESILIENCE_DISABLE={variant or '(none)'}: {name}")
                result = _run_chaos_variant(handle, chaos_scenario, f"v{index}", time_scale)
                if result is None:
                    console.print(f"    [yellow]skipped[/] {name}: AMQP_URL is unset")
                    continue
                result.scenario, result.kind, result.variant = name, "ablation", variant
                result.expected_to_fail = variant != BASELINE
                run.results.append(result)
    write_run(run, run_dir)
    (run_dir / "ablation.md").write_text(ablation_markdown(run))
    print_summary(run)
    console.print(f"ablation table: {run_dir / 'ablation.md'}")
    return run, run_dir


def _restart_variant(handle: Any, variant: str) -> None:
    """Refactored with ``variant`` disabled, on a database of its own (equal terms)."""

    fresh_target_database(handle.group, handle.info, "refactored")
    # handle.info.targets["refactored"] is updated in place (its env, its app deadline)
    restart_service(
        handle.group, handle.info, "refactored", env_overrides={"RESILIENCE_DISABLE": variant}
    )


def _run_chaos_variant(
    handle: Any, scenario: Any, tag: str, time_scale: float
) -> ScenarioResult | None:
    """One chaos scenario on the running refactored service; None when it needs a broker
    and the stack has none."""
    import asyncio

    if scenario.needs_amqp and not amqp_url_of(handle.info):
        return None
    endpoints = handle.info.targets["refactored"]
    return asyncio.run(
        run_scenario(scenario, "refactored", endpoints, handle.info, tag, time_scale)
    )
