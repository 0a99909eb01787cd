"""Per scenario: latency (top) and status codes (bottom) over time, one column per target,
fault windows shaded; a base64 PNG for the HTML report."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from harness.reporting.figures import VERDICT_COLOUR
from testbed.results import ScenarioResult

STATUS_COLOUR = {"2": "#2da44e", "3": "#8250df", "4": "#d4a72c", "5": "#cf222e", "e": "#6e7781"}
# the 5xx that tell different stories get their own shade (LB timeout vs app vs crash)
CODE_COLOUR = {
    "500": "#82071e",
    "502": "#fa4549",
    "503": "#bf8700",
    "504": "#cf222e",
    "429": "#8250df",
}


def plot_scenario(results: Sequence[ScenarioResult]) -> str:
    """Latency (top) and status codes (bottom) over time, one column per target; base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")  # headless, no display; must precede pyplot
    import matplotlib.pyplot as plt

    columns = len(results)
    fig, axes = plt.subplots(
        2, columns, figsize=(5.5 * columns, 5.5), squeeze=False, sharex="col", sharey="row"
    )
    try:
        for col, r in enumerate(results):
            series = r.series
            t = series.get("t_s", [])
            lat_ax, st_ax = axes[0][col], axes[1][col]
            for key, label, style in (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--")):
                values = [math.nan if v is None else v for v in series.get(key, [])]
                if values:
                    lat_ax.plot(t[: len(values)], values, style, label=label)
            health = r.extra.get("health_series", {}) if r.extra else {}
            if health.get("t_s") and health.get("p99_ms"):
                hv = [math.nan if v is None else v for v in health["p99_ms"]]
                lat_ax.plot(health["t_s"][: len(hv)], hv, ":", label="health p99")
            lat_ax.set_yscale("log")
            lat_ax.set_title(f"{r.target} · {r.verdict}", color=VERDICT_COLOUR[r.verdict])
            lat_ax.set_ylabel("latency (ms)")
            lat_ax.legend(loc="upper left", fontsize=7)
            bottom = [0] * len(t)
            for code in sorted(series.get("status", {})):
                counts = series["status"][code][: len(t)]
                colour = CODE_COLOUR.get(code, STATUS_COLOUR.get(code[0], "#6e7781"))
                st_ax.bar(
                    t[: len(counts)],
                    counts,
                    bottom=bottom[: len(counts)],
                    width=series.get("bucket_s", 1.0) * 0.9,
                    align="edge",
                    label=code,
                    color=colour,
                    alpha=0.85,
                )
                bottom = [b + c for b, c in zip(bottom, counts, strict=False)] + bottom[
                    len(counts) :
                ]
            st_ax.set_ylabel("responses / bucket")
            st_ax.set_xlabel("seconds since scenario start")
            if series.get("status"):
                st_ax.legend(loc="upper left", fontsize=7, ncol=3)
            for ax in (lat_ax, st_ax):
                for w in r.fault_windows:
                    ax.axvspan(w.get("start_s", 0), w.get("end_s", 0), color="#cf222e", alpha=0.1)
            for w in r.fault_windows:
                lat_ax.annotate(
                    str(w.get("label", "")),
                    (w.get("start_s", 0), 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    va="top",
                    color="#cf222e",
                )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
    finally:
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
