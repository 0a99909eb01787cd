"""The overhead benchmark runs end to end and writes its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bench_toxiproxy import main

pytestmark = pytest.mark.integration


def test_bench_writes_a_report_with_latency_and_throughput(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    assert main(["--round-trips", "50", "--bulk-mb", "1", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["round_trips"] == 50
    assert set(report["added_latency_ms"]) == {"p50", "p99"}
    assert report["round_trip_ms"]["proxy"]["p50"] > 0
    assert report["bulk_mb_per_s"]["proxy"] > 0
