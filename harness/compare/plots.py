"""One PNG per pair (matplotlib, Agg): latency percentiles over time with the fault windows
shaded, throughput, status codes over time, 504s and 429s per second, LLM calls per request
and event-loop lag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: CI machines and headless servers
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from harness.compare.metrics import fmt
from harness.compare.model import Pair
from testbed.results import ScenarioResult

LEFT_COLOUR, RIGHT_COLOUR = "#d62728", "#1f77b4"
# one colour per status code a run shows; classes as a fallback
STATUS_COLOURS = {
    "200": "#2ca02c", "201": "#98df8a", "404": "#c5b0d5", "413": "#9467bd", "422": "#8c564b",
    "429": "#ff7f0e", "500": "#7b0000", "502": "#e377c2", "503": "#bcbd22", "504": "#d62728",
    "error": "#7f7f7f",
}  # fmt: skip
CLASS_COLOURS = {"2": "#2ca02c", "4": "#ff7f0e", "5": "#d62728"}


def plot_pair(pair: Pair, left_label: str, right_label: str, path: Path) -> Path:
    fig, axes = plt.subplots(4, 2, figsize=(12, 13), dpi=80)
    sides = [(pair.left, left_label, LEFT_COLOUR), (pair.right, right_label, RIGHT_COLOUR)]
    _latency(axes[0][0], sides)
    _throughput(axes[0][1], sides)
    for ax, (result, label, _) in zip(axes[1], sides, strict=True):
        _status_codes(ax, result, label)
    _code_over_time(axes[2][0], sides, "504")
    _code_over_time(axes[2][1], sides, "429")
    _bars(axes[3][0], sides, "LLM calls per request", lambda r: r.llm_calls.get("per_request"))
    _bars(axes[3][1], sides, "event-loop lag max (s)", lambda r: r.event_loop_lag_max_s)
    for ax in [*axes[0], *axes[1], *axes[2]]:
        # each side's own windows: the same schedule can land at slightly different times
        _shade_faults(ax, pair.left.fault_windows)
        if pair.right.fault_windows != pair.left.fault_windows:
            _shade_faults(ax, pair.right.fault_windows)

    windows = pair.right.fault_windows or pair.left.fault_windows
    shaded = ", ".join(str(w.get("label", "")) for w in windows)
    fig.suptitle(
        f"{pair.key}: {left_label} vs {right_label}"
        + (f"  (shaded: fault window {shaded})" if windows else ""),
        fontsize=13,
    )
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


Side = tuple[ScenarioResult, str, str]


def _series(result: ScenarioResult, key: str) -> tuple[list[float], list[float]]:
    t = result.series.get("t_s") or []
    values = result.series.get(key) or []
    points = [(x, y) for x, y in zip(t, values, strict=False) if y is not None]
    return [p[0] for p in points], [float(p[1]) for p in points]


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes)


def _latency(ax: Axes, sides: list[Side]) -> None:
    drawn = False
    for result, label, colour in sides:
        for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            t, y = _series(result, key)
            if t:
                drawn = True
                ax.plot(t, y, style, color=colour, label=f"{label} {key[:3]}")
    ax.set_title("latency percentiles over time (ms)")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=2)
    else:
        _no_data(ax, "latency series")


def _throughput(ax: Axes, sides: list[Side]) -> None:
    drawn = False
    for result, label, colour in sides:
        t, y = _series(result, "rps")
        if t:
            drawn = True
            ax.plot(t, y, color=colour, label=label)
    ax.set_title("throughput (requests started / s)")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "throughput series")


def _status_codes(ax: Axes, result: ScenarioResult, label: str) -> None:
    t = result.series.get("t_s") or []
    status: dict[str, list[int]] = result.series.get("status") or {}
    ax.set_title(f"status codes over time: {label}")
    ax.set_xlabel("seconds since scenario start")
    if not t or not status:
        _no_data(ax, "status series")
        return
    codes = sorted(status)
    colours = [STATUS_COLOURS.get(c, CLASS_COLOURS.get(c[0], "#17becf")) for c in codes]
    ax.stackplot(t, *[status[c][: len(t)] for c in codes], labels=codes, colors=colours, alpha=0.8)
    ax.legend(fontsize=8, loc="upper right")


def _code_over_time(ax: Axes, sides: list[Side], code: str) -> None:
    drawn = False
    for result, label, colour in sides:
        t = result.series.get("t_s") or []
        values = (result.series.get("status") or {}).get(code)
        if t:
            drawn = True
            ax.plot(t, values[: len(t)] if values else [0] * len(t), color=colour, label=label)
    ax.set_title(f"{code}s per second")
    ax.set_xlabel("seconds since scenario start")
    if drawn:
        ax.legend(fontsize=8)
    else:
        _no_data(ax, f"{code} series")


def _bars(ax: Axes, sides: list[Side], title: str, get: Any) -> None:
    labels = [label for _, label, _ in sides]
    values = [get(result) for result, _, _ in sides]
    ax.set_title(title)
    if all(v is None for v in values):
        _no_data(ax, title)
        return
    numbers = [float(v) if v is not None else 0.0 for v in values]
    bars = ax.bar(labels, numbers, color=[colour for _, _, colour in sides])
    ax.bar_label(bars, labels=[fmt(v) if v is not None else "not measured" for v in values])


def _shade_faults(ax: Axes, windows: list[dict[str, Any]]) -> None:
    for i, window in enumerate(windows):
        label = f"fault: {window.get('label', '')}" if i == 0 else None
        ax.axvspan(window["start_s"], window["end_s"], color="#ffbf00", alpha=0.14, label=label)
