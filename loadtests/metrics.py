"""From per-request samples (written by the locustfile's request hook) to metrics.

A sample is one request: when it started (seconds since the test started),
the Locust endpoint name, the HTTP status (None: no response at all), the
latency, whether a 504 came from the load balancer (not the app's own
``deadline_exceeded`` answer) and the client group (``normal`` or ``burst``).
Thresholds (:mod:`loadtests.model`) read the flat metric names computed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.stats import bucket_series, latency_summary

SAMPLES_GLOB = "samples-*.jsonl"
STARTED_FILE = "started.json"
# written by a distributed run's master: did every worker's samples arrive (loadtests.distributed)
WORKERS_FILE = "workers.json"


class IncompleteSamplesError(RuntimeError):
    """A distributed run's master did not receive every worker's samples: judging the
    rest would pass or fail the run on part of its traffic."""


# Locust endpoint names (the `name=` of each request) and their short metric keys.
ENDPOINTS = {
    "POST /v1/conversations/end": "conversation_end",
    "GET /v1/friendships/{user_id}/{agent_id}": "friendship_read",
    "POST /v1/activities/suggest": "activities_suggest",
    "GET /health": "health",
}


@dataclass(frozen=True)
class Sample:
    t_s: float
    endpoint: str
    status: int | None
    latency_ms: float
    lb_504: bool = False
    group: str = "normal"
    degraded: bool | None = None  # a 200 conversation end that named a fallback

    @property
    def failed(self) -> bool:
        """A server error or no response: what the error rate counts (4xx are answers)."""
        return self.status is None or self.status >= 500


def read_samples(out_dir: Path, started_at: float | None = None) -> list[Sample]:
    """All samples of a run (one JSONL file per Locust process, or per worker as the master
    received them), times relative to the start."""
    check_workers_complete(out_dir)
    if started_at is None:
        started_at = read_started_at(out_dir)
    rows: list[Sample] = []
    for path in sorted(out_dir.glob(SAMPLES_GLOB)):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            rows.append(
                Sample(
                    t_s=max(0.0, raw["t"] - (started_at or 0.0)),
                    endpoint=raw["n"],
                    status=raw["s"],
                    latency_ms=float(raw["ms"]),
                    lb_504=bool(raw.get("lb504", False)),
                    group=raw.get("g", "normal"),
                    degraded=raw.get("dg"),
                )
            )
    rows.sort(key=lambda s: s.t_s)
    return rows


def check_workers_complete(out_dir: Path) -> None:
    """Refuse a folder whose master says some worker's samples never arrived."""
    path = out_dir / WORKERS_FILE
    if path.exists():
        summary = json.loads(path.read_text())
        if not summary.get("complete", False):
            raise IncompleteSamplesError(f"{summary.get('error')} (see {path})")


def read_started_at(out_dir: Path) -> float | None:
    path = out_dir / STARTED_FILE
    if not path.exists():
        return None
    return float(json.loads(path.read_text())["started_at"])


def status_counts(samples: Iterable[Sample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in samples:
        key = "error" if s.status is None else str(s.status)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _latency(samples: list[Sample]) -> dict[str, float]:
    return latency_summary(s.latency_ms for s in samples)


def endpoint_stats(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per endpoint (and per client group when not ``normal``): count, statuses, latency."""
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        key = s.endpoint if s.group == "normal" else f"{s.endpoint} [{s.group}]"
        groups.setdefault(key, []).append(s)
    return {
        name: {
            "count": len(rows),
            "status_counts": status_counts(rows),
            "latency_ms": _latency(rows),
        }
        for name, rows in sorted(groups.items())
    }


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


SAMPLES_SUFFIX = "_samples"  # "<rate>_samples": how many requests a rate is a fraction of


def _rate_denominators(
    samples: list[Sample], normal: list[Sample], burst: list[Sample], answered: list[Sample]
) -> dict[str, int]:
    """The sample count behind every rate of :func:`compute_metrics` (a threshold on a rate
    of too few samples is not judged: ``loadtests.model.Threshold``)."""
    counts = {
        "error_rate": len(samples),
        "burst_429_fraction": len(burst),
        "others_error_rate": len(normal),
        "conversation_end_degraded_rate": len(answered),
    }
    for endpoint, short in ENDPOINTS.items():
        rows = sum(1 for s in normal if s.endpoint == endpoint)
        counts[f"{short}_error_rate"] = counts[f"{short}_rejected_rate"] = rows
    return counts


def compute_metrics(
    samples: list[Sample],
    extras: Mapping[str, float | None] | None = None,
    recovery_from_s: float | None = None,
) -> dict[str, float | None]:
    """The flat metric names the thresholds use.

    ``extras`` adds what the samples cannot tell (LLM calls from the fake's
    counters, worker restarts from the service log, event-loop lag from
    /metrics, faults applied). ``recovery_from_s``: 504s after this time are
    counted as ``recovery_lb_504_count`` (the incident must be over by then).
    """
    normal = [s for s in samples if s.group == "normal"]
    burst = [s for s in samples if s.group == "burst"]
    metrics: dict[str, float | None] = {
        "requests_total": len(samples),
        "transport_errors": sum(1 for s in samples if s.status is None),
        "lb_504_count": sum(1 for s in samples if s.lb_504),
        "status_504_count": sum(1 for s in samples if s.status == 504),
        "status_429_count": sum(1 for s in samples if s.status == 429),
        "error_rate": _rate(sum(1 for s in samples if s.failed), len(samples)),
        "burst_requests": len(burst),
        "burst_429_fraction": _rate(sum(1 for s in burst if s.status == 429), len(burst)),
        "others_429_count": sum(1 for s in normal if s.status == 429),
        "others_error_rate": _rate(sum(1 for s in normal if s.failed), len(normal)),
        "burst_429_count": sum(1 for s in burst if s.status == 429),
    }
    for key in ("p50", "p95", "p99", "max"):
        metrics[f"{key}_ms"] = _latency(normal).get(key)
    for endpoint, short in ENDPOINTS.items():
        rows = [s for s in normal if s.endpoint == endpoint]
        summary = _latency(rows)
        metrics[f"{short}_count"] = len(rows)
        for key in ("p50", "p95", "p99"):
            metrics[f"{short}_{key}_ms"] = summary.get(key)
        metrics[f"{short}_error_rate"] = _rate(sum(1 for s in rows if s.failed), len(rows))
        # 4xx other than 404 (no friendship yet) and 429 (rate limited): the load is wrong
        rejected = sum(
            1 for s in rows if s.status and 400 <= s.status < 500 and s.status not in (404, 429)
        )
        metrics[f"{short}_rejected_rate"] = _rate(rejected, len(rows))
    answered = [s for s in normal if s.degraded is not None]
    metrics["conversation_end_degraded_rate"] = _rate(
        sum(1 for s in answered if s.degraded), len(answered)
    )
    if recovery_from_s is not None:
        metrics["recovery_lb_504_count"] = sum(
            1 for s in samples if s.lb_504 and s.t_s >= recovery_from_s
        )
    lb_504_times = [s.t_s for s in samples if s.lb_504]
    metrics["first_lb_504_s"] = lb_504_times[0] if lb_504_times else None
    metrics["last_lb_504_s"] = lb_504_times[-1] if lb_504_times else None
    for key, denominator in _rate_denominators(samples, normal, burst, answered).items():
        metrics[f"{key}{SAMPLES_SUFFIX}"] = denominator  # what each rate was judged over
    for key, value in (extras or {}).items():
        metrics[key] = value
    # the three analysis tasks are what one conversation costs (activities/summary aside)
    llm_calls = metrics.get("llm_analysis_calls", metrics.get("llm_calls_total"))
    conversations = metrics["conversation_end_count"]
    if llm_calls is not None and conversations:
        metrics["llm_calls_per_conversation"] = float(llm_calls) / float(conversations)
    return metrics


def series(samples: list[Sample], bucket_s: float = 1.0) -> dict[str, Any]:
    """Per-second series (testbed.results.bucket_series) plus the LB 504s per bucket."""
    # bucket_series sorts whole tuples, and None (no response) does not compare with an int
    # when two samples share a start time: pass 0 and rename the bucket to "error" after.
    out = bucket_series(((s.t_s, s.status or 0, s.latency_ms) for s in samples), bucket_s)
    if "0" in out.get("status", {}):
        out["status"]["error"] = out["status"].pop("0")
    n = len(out.get("t_s", []))
    lb = [0] * n
    for s in samples:
        if s.lb_504:
            lb[min(n - 1, int(s.t_s // bucket_s))] += 1
    if n:
        out["lb_504"] = lb
    return out
