"""The bench's cost figures: CPU per request of each process tree, workloads, bench.md."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.bench import answered_in_full, step_figures
from harness.bench_cpu import CpuSampler, TreeCpu, label_of, window_cpu
from harness.bench_report import bench_markdown
from harness.bench_workloads import (
    CONVERSATION_END,
    SUGGEST,
    UnknownWorkloadError,
    bench_stages,
    ideal_rps,
    parse_workloads,
)
from loadtests.metrics import Sample
from loadtests.model import ScaledStage

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("refactored-gunicorn", "service"),
        ("caddy-refactored", "caddy"),
        ("toxiproxy-refactored", "toxiproxy"),
        ("fake-llm-refactored", "fake_llm"),
        ("fake-memory-refactored", "fake_memory"),
        ("locust-refactored-bench_conversation_end", "load_generator"),
        ("redis", "redis"),  # shared by both targets
        ("postgres-46271", "postgres"),
        ("legacy-gunicorn", None),
        ("fake-llm-legacy", None),
        ("locust-legacy-bench", None),
    ],
)
def test_each_stack_process_gets_the_label_of_its_target(name: str, label: str | None) -> None:
    assert label_of(name, "refactored") == label


def test_a_tree_counts_every_descendant_and_keeps_an_exited_childs_seconds() -> None:
    # a parent that forks a busy child, which exits: the tree's reading must include the
    # child's CPU while it runs and keep it after it exits
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nend = time.process_time() + 0.4\\nwhile time.process_time() < end: pass\\n"
        "time.sleep(0.6)'])\n"
        "child.wait()\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        tree = TreeCpu(parent.pid)
        deadline = time.monotonic() + 20
        peak = 0.0
        while time.monotonic() < deadline:
            reading = tree.read()
            peak = max(peak, reading.seconds)
            if len(reading.pids) >= 2 and reading.seconds >= 0.4:
                break
            time.sleep(0.05)
        assert peak >= 0.35, "the child's CPU is counted in its parent's tree"
        time.sleep(1.0)  # the child has exited by now
        after = tree.read()
        assert after.seconds >= peak
        assert len(after.pids) >= 2
    finally:
        parent.kill()
        parent.wait()


def test_a_child_that_lived_between_two_readings_counts_in_its_parent() -> None:
    # a PostgreSQL backend of a connection opened and closed within one sample interval
    code = (
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', "
        "'import time\\nend = time.process_time() + 0.3\\nwhile time.process_time() < end: "
        "pass'])\n"
        "print('done', flush=True)\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "done"
        reading = TreeCpu(parent.pid).read()  # the child was never seen alive
        assert reading.seconds >= 0.25
        assert reading.pids == (parent.pid,)
    finally:
        parent.kill()
        parent.communicate()


def test_the_sampler_reads_cumulative_seconds_of_labelled_trees() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", burn + "time.sleep(30)"])
    try:
        sampler = CpuSampler({"busy": child.pid}, interval_s=0.05)
        sampler.start()
        time.sleep(0.3)
        sampler.watch("late", os.getpid())  # a tree added while sampling runs
        time.sleep(0.9)
        sampler.finish()
    finally:
        child.kill()
        child.wait()
    assert len(sampler.samples) >= 3
    assert sampler.samples[-1]["busy"] - sampler.samples[0]["busy"] >= 0.25
    assert "late" in sampler.samples[-1] and "late" not in sampler.samples[0]
    assert sampler.pids()["busy"] == [child.pid]


def test_a_sample_scans_the_process_table_once_for_all_its_trees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a parent -> child -> busy grandchild tree beside three more trees: the grandchild's
    # CPU is found through the one scan; psutil's children(recursive=True) per tree scanned
    # the whole process table once per tree
    scans = 0
    scan = psutil._ppid_map

    def counting_scan() -> dict[int, int]:
        nonlocal scans
        scans += 1
        return scan()

    monkeypatch.setattr(psutil, "_ppid_map", counting_scan)

    def runs(code: str) -> str:  # code that runs ``code`` in a child process and waits
        return f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {code!r}])"

    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    parent = subprocess.Popen([sys.executable, "-c", runs(runs(burn + "time.sleep(30)"))])
    sleep = "import time; time.sleep(30)"
    others = [subprocess.Popen([sys.executable, "-c", sleep]) for _ in range(3)]
    try:
        trees = {"tree": parent.pid, **{f"other{i}": p.pid for i, p in enumerate(others)}}
        sampler = CpuSampler(trees)
        samples = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = sampler.sample()
            samples += 1
            if row["tree"] >= 0.25:
                break
            time.sleep(0.05)
        assert row["tree"] >= 0.25, "the busy grandchild is counted in the tree"
        assert scans == samples, "one scan of the process table per sample, not per tree"
    finally:
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(parent.pid).children(recursive=True):
                proc.kill()
        for p in [parent, *others]:
            p.kill()
            p.wait()


def test_cpu_per_request_is_the_windows_seconds_over_its_requests() -> None:
    samples = [
        {"t": 0.5, "service": 10.0, "caddy": 1.0, "machine": 100.0},
        {"t": 1.0, "service": 10.4, "caddy": 1.1, "machine": 101.0},
        {"t": 5.0, "service": 12.0, "caddy": 1.5, "machine": 108.0},
        {"t": 9.0, "service": 20.0, "caddy": 2.0, "machine": 120.0},
    ]
    window = window_cpu(samples, 1.0, 5.0)
    assert window is not None
    assert window.span_s == pytest.approx(4.0)
    assert window.ms_per_request(800) == {"caddy": 0.5, "service": 2.0}
    assert window.percent("service") == pytest.approx(40.0)
    assert window.ms_per_request(0)["service"] is None
    assert window_cpu(samples, 6.0, 8.0) is None  # no two samples inside


def _write_samples(out: Path, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_step_figures_divide_each_trees_cpu_by_the_answers_in_full(tmp_path: Path) -> None:
    end = "POST /v1/conversations/end"
    started = 1000.0
    rows = []
    for i in range(100):  # one step, 10 s; the first 3 s are warm-up
        t = 3.0 + i * 0.05  # 100 requests in [3, 8)
        rows.append({"t": started + t, "n": end, "s": 200, "ms": 210.0, "dg": False})
    rows.append({"t": started + 4.0, "n": end, "s": 200, "ms": 30.0, "dg": True})  # fallback
    rows.append({"t": started + 4.0, "n": end, "s": 502, "ms": 5.0})
    rows.append({"t": started + 4.0, "n": "GET /health", "s": 200, "ms": 1.0})  # other route
    _write_samples(tmp_path, rows)
    cpu = [
        {"t": 3.0, "service": 1.0, "load_generator": 0.0, "machine": 0.0},
        {"t": 8.0, "service": 1.5, "load_generator": 0.1, "machine": 5.0},
    ]
    stage = ScaledStage("c=64", 0.0, 10.0, 64, 64.0, ("BenchConversationEnder",))
    (step,) = step_figures(
        tmp_path,
        [stage],
        started,
        cpu,
        endpoint=end,
        ideal=lambda c: ideal_rps(c, 200, None, 3),
        cpus=2,
    )
    assert step["requests"] == 102  # the health probe is not this workload's
    assert step["degraded"] == 1
    assert step["rps"] == pytest.approx(100 / 7, abs=0.01)
    assert step["ideal_rps"] == pytest.approx(320.0)
    assert step["cpu_ms_per_request"] == {"load_generator": 1.0, "service": 5.0}
    assert step["service_cpu_percent"] == pytest.approx(10.0)
    assert step["machine_cpu_percent"] == pytest.approx(50.0)


def test_an_answer_in_full_is_a_200_without_fallback() -> None:
    ok = Sample(1.0, "x", 200, 10.0, degraded=False)
    assert answered_in_full(ok)
    assert answered_in_full(Sample(1.0, "x", 200, 10.0))  # suggest: not read
    assert not answered_in_full(Sample(1.0, "x", 200, 10.0, degraded=True))
    assert not answered_in_full(Sample(1.0, "x", 429, 10.0))
    assert not answered_in_full(Sample(1.0, "x", None, 10.0))


def test_workloads_are_named_and_their_ideal_waits_for_the_slowest_call() -> None:
    assert parse_workloads("suggest, conversation_end") == [SUGGEST, CONVERSATION_END]
    with pytest.raises(UnknownWorkloadError, match="valid workloads: suggest, conversation_end"):
        parse_workloads("suggest,end")
    assert bench_stages([4], 8.0, CONVERSATION_END.user_class)[0].classes == (
        "BenchConversationEnder",
    )
    # three calls at once wait for one latency, but use three connections each
    assert ideal_rps(64, 200, 512, 3) == pytest.approx(320.0)
    assert ideal_rps(256, 200, 512, 3) == pytest.approx(170 / 0.2)


def test_bench_markdown_has_a_row_per_step_with_each_process_cost() -> None:
    step = {
        "concurrency": 64,
        "rps": 250.0,
        "ideal_rps": 320.0,
        "ratio_to_ideal": 0.781,
        "p99_ms": 390.0,
        "error_rate": 0.0,
        "cpu_ms_per_request": {"service": 1.6, "caddy": 0.4, "load_generator": 0.9},
        "service_cpu_percent": 40.0,
        "machine_cpu_percent": 80.0,
    }
    target = {
        "rps": 250.0,
        "concurrency": 64,
        "ideal_rps": 320.0,
        "ratio_to_ideal": 0.781,
        "p99_ms": 390.0,
        "cpu_ms_per_request": step["cpu_ms_per_request"],
        "error_free": True,
        "limit_hit": "service CPU",
        "steps": [step],
    }
    bench = {
        "llm_latency_ms": 200,
        "workers": 2,
        "cpus": 2,
        "time_scale": 0.1,
        "step_s": 8.0,
        "warmup_s": 3.0,
        "processes": {"refactored": {"service": "refactored-gunicorn"}},
        "workloads": {
            "suggest": {
                "description": "closed loop",
                "ideal": "c / 200 ms",
                "ratio_to_legacy": 26.0,
                "targets": {"refactored": target},
            }
        },
    }
    text = bench_markdown(bench, "20261204-bench")
    assert "| service CPU ms/req | caddy CPU ms/req | load_generator CPU ms/req |" in text
    assert "| refactored | 64 | 250.0 | 320 | 78 | 390 | 0.0 % | 1.60 | 0.40 | 0.90 |" in text
    assert "service = `refactored-gunicorn`" in text
    assert "x26.00" in text
