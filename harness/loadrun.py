"""Run a Locust scenario against one target of a running stack and measure it.

The Locust process (``loadtests/locustfile.py``) generates the load and writes
one sample per request; this process applies the scenario's faults at their
marks (Toxiproxy toxics, the fakes' control API, the nightly admin call),
watches the target (LLM calls, worker restarts, event-loop lag, breaker
transitions, alerts) and turns it all into a :class:`testbed.results.ScenarioResult`
whose expectations are the scenario's thresholds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.metrics import (
    STARTED_FILE,
    compute_metrics,
    endpoint_stats,
    read_samples,
    series,
    status_counts,
)
from loadtests.model import Fault, ScaledStage, Scenario, scaled, scaled_fault_params, scaled_stages
from testbed.processes import ProcessGroup
from testbed.results import ScenarioResult, latency_summary

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
WORKER_TIMEOUT_RE = re.compile(r"WORKER TIMEOUT")
ANALYSIS_TASKS = ("emotion", "questions", "topics")


class LoadRunError(RuntimeError):
    """The load generator or the target misbehaved in a way that makes the run meaningless."""


@dataclass(frozen=True)
class TargetEndpoints:
    """What the load runner needs to know about one target of the stack."""

    name: str
    lb_url: str
    service_url: str
    toxiproxy_url: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)
    llm_control_url: str | None = None
    memory_control_url: str | None = None
    webhook_control_url: str | None = None
    admin_token: str | None = None
    metrics_url: str | None = None
    log_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    lb_timeout_s: float | None = None
    app_timeout_s: float | None = None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _control(fake: Any) -> str | None:
    if fake is None:
        return None
    url = _get(fake, "control_url") or (
        f"{_get(fake, 'url')}/_control" if _get(fake, "url") else None
    )
    return str(url).rstrip("/") if url else None


def endpoints_from_stack(target: Any, name: str, log_dir: Path | None) -> TargetEndpoints:
    """Adapt a ``testbed.stack`` target (object or stack.json dict, conventions §14)."""
    fakes = _get(target, "fakes", {}) or {}
    return TargetEndpoints(
        name=name,
        lb_url=str(_get(target, "lb_url")).rstrip("/"),
        service_url=str(_get(target, "service_url")).rstrip("/"),
        toxiproxy_url=_get(target, "toxiproxy_url"),
        proxies=dict(_get(target, "proxies", {}) or {}),
        llm_control_url=_control(_get(fakes, "llm")),
        memory_control_url=_control(_get(fakes, "memory")),
        webhook_control_url=_control(_get(fakes, "webhook")),
        admin_token=_get(target, "admin_token"),
        metrics_url=_get(target, "metrics_url"),
        log_dir=log_dir,
        env=dict(_get(target, "env", {}) or {}),
        lb_timeout_s=_get(target, "lb_timeout_s"),
        app_timeout_s=_get(target, "app_timeout_s"),
    )


# ---- observing the target ---------------------------------------------------------------


def count_worker_timeouts(log_dir: Path | None, target: str) -> int:
    """gunicorn's ``WORKER TIMEOUT`` lines in the target's logs (a blocked worker killed)."""
    if log_dir is None or not log_dir.exists():
        return 0
    total = 0
    for path in log_dir.glob(f"*{target}*.log"):
        with contextlib.suppress(OSError):
            total += len(WORKER_TIMEOUT_RE.findall(path.read_text(errors="replace")))
    return total


def fake_call(control_url: str | None, method: str, path: str, body: Any = None) -> Any:
    if not control_url:
        return None
    response = httpx.request(method, f"{control_url}{path}", json=body, timeout=10.0)
    response.raise_for_status()
    return response.json() if response.content else None


def parse_metrics(text: str) -> dict[str, Any]:
    """The refactored /metrics values the load report uses (multiprocess samples summed/maxed)."""
    lag_max: float | None = None
    transitions: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "event_loop_lag_max_seconds":
                lag_max = max(lag_max or 0.0, float(sample.value))
            elif sample.name == "circuit_breaker_transitions_total":
                labels = sample.labels
                key = (
                    labels.get("dependency", ""),
                    labels.get("from_state", ""),
                    labels.get("to_state", ""),
                )
                transitions[key] = transitions.get(key, 0.0) + float(sample.value)
    return {
        "event_loop_lag_max_s": lag_max,
        "breaker_transitions": [
            {"dependency": d, "from_state": f, "to_state": t, "count": int(c)}
            for (d, f, t), c in sorted(transitions.items())
            if c
        ],
    }


class MetricsWatcher(threading.Thread):
    """Scrapes the refactored /metrics every second: the max event-loop lag seen."""

    def __init__(self, url: str | None) -> None:
        super().__init__(daemon=True, name="metrics-watcher")
        self.url = url
        self.stop_event = threading.Event()
        self.lag_max: float | None = None
        self.last: dict[str, Any] = {}

    def scrape(self) -> None:
        if not self.url:
            return
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = httpx.get(self.url, timeout=2.0)
            if response.status_code == 200:
                self.last = parse_metrics(response.text)
                lag = self.last.get("event_loop_lag_max_s")
                if lag is not None:
                    self.lag_max = max(self.lag_max or 0.0, lag)

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.scrape()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)
        self.scrape()


# ---- applying the faults ----------------------------------------------------------------


def _slug(label: str) -> str:
    return "load_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


class FaultDriver:
    """Applies a scenario's faults to one target and remembers when (fault windows)."""

    def __init__(self, target: TargetEndpoints, time_scale: float, started_at: float) -> None:
        self.target = target
        self.time_scale = time_scale
        self.started_at = started_at
        self.windows: list[dict[str, Any]] = []
        self.applied = 0
        self.rejected = 0  # faults the target refused (e.g. the nightly call answered 4xx)
        # nightly jobs fired / answered 2xx (the job itself must survive the incident)
        self.nightly_started = 0
        self.nightly_completed = 0
        self.notes: list[str] = []
        self._active: list[tuple[Fault, dict[str, Any]]] = []
        self._threads: list[threading.Thread] = []

    def _since_start(self) -> float:
        return round(time.time() - self.started_at, 3)

    def apply(self, fault: Fault) -> None:
        params = scaled_fault_params(fault, self.time_scale)
        window = {"label": fault.label, "start_s": self._since_start(), "end_s": None}
        try:
            if fault.kind == "toxic":
                self._add_toxic(fault, params)
            elif fault.kind == "llm_faults":
                fake_call(self.target.llm_control_url, "PUT", "/faults", params["config"])
            elif fault.kind == "memory_faults":
                fake_call(self.target.memory_control_url, "PUT", "/faults", params["config"])
            elif fault.kind == "nightly":
                self._start_nightly(window)
        except (httpx.HTTPError, LoadRunError) as exc:
            self.notes.append(f"fault {fault.label!r} could not be applied: {exc}")
            return
        self.applied += 1
        self.windows.append(window)
        if fault.kind != "nightly":
            self._active.append((fault, window))

    def remove(self, fault: Fault) -> None:
        for active, window in list(self._active):
            if active is fault:
                self._clear(active)
                window["end_s"] = self._since_start()
                self._active.remove((active, window))

    def remove_all(self) -> None:
        for fault, window in list(self._active):
            with contextlib.suppress(Exception):
                self._clear(fault)
            window["end_s"] = window["end_s"] or self._since_start()
        self._active.clear()

    def wait_background(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _proxy(self, logical: str) -> str:
        return self.target.proxies.get(logical, logical)

    def _add_toxic(self, fault: Fault, params: dict[str, Any]) -> None:
        if not self.target.toxiproxy_url:
            raise LoadRunError(f"target {self.target.name} has no toxiproxy_url")
        body = {
            "name": _slug(fault.label),
            "type": params.get("type", "latency"),
            "stream": params.get("stream", "downstream"),
            "toxicity": params.get("toxicity", 1.0),
            "attributes": params.get("attributes", {}),
        }
        url = f"{self.target.toxiproxy_url}/proxies/{self._proxy(params['proxy'])}/toxics"
        httpx.post(url, json=body, timeout=10.0).raise_for_status()

    def _clear(self, fault: Fault) -> None:
        if fault.kind == "toxic":
            name = self._proxy(fault.params["proxy"])
            url = f"{self.target.toxiproxy_url}/proxies/{name}/toxics/{_slug(fault.label)}"
            response = httpx.delete(url, timeout=10.0)
            if response.status_code not in (200, 204, 404):
                response.raise_for_status()
        elif fault.kind == "llm_faults":
            fake_call(self.target.llm_control_url, "DELETE", "/faults")
        elif fault.kind == "memory_faults":
            fake_call(self.target.memory_control_url, "DELETE", "/faults")

    def _start_nightly(self, window: dict[str, Any]) -> None:
        """Fire the nightly job straight at the service (not through the LB, which would give
        up on it) in the background: on legacy it blocks a worker, which is the point."""
        url = f"{self.target.service_url}/v1/admin/nightly"
        headers = {"Authorization": f"Bearer {self.target.admin_token or ''}"}

        def call() -> None:
            begin = time.monotonic()
            try:
                response = httpx.post(url, headers=headers, json={}, timeout=600.0)
                outcome = f"{response.status_code} {response.text[:200]}"
                if 400 <= response.status_code < 500:  # wrong token, endpoint disabled: no job
                    self.rejected += 1
                elif response.is_success:
                    self.nightly_completed += 1
            except httpx.HTTPError as exc:
                outcome = f"no answer ({type(exc).__name__})"
            window["end_s"] = self._since_start()
            self.notes.append(f"nightly job: {outcome} after {time.monotonic() - begin:.1f}s")

        self.nightly_started += 1
        thread = threading.Thread(target=call, daemon=True, name="nightly")
        thread.start()
        self._threads.append(thread)


# ---- running Locust ---------------------------------------------------------------------


def locust_argv(
    host: str, out_dir: Path, *, processes: int = 0, extra: tuple[str, ...] = ()
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(out_dir / "locust"),
        "--csv-full-history",
        "--html",
        str(out_dir / "locust.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if processes:
        argv += ["--processes", str(processes)]
    return argv + list(extra)


def _stages_env(stages: list[ScaledStage]) -> str:
    return json.dumps([{**asdict(s), "classes": list(s.classes)} for s in stages])


def wait_for_file(path: Path, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if not alive():
            raise LoadRunError(f"Locust exited before the test started (see {path.parent})")
        time.sleep(0.05)
    raise LoadRunError(f"Locust did not start the test within {timeout:.0f}s")


@dataclass
class RunOptions:
    time_scale: float
    duration_factor: float = 1.0
    processes: int = 0  # Locust --processes (0: one process)
    kind: str = "load"
    variant: str = ""
    run_id: str = ""
    stages: list[ScaledStage] | None = None  # override (bench)
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RawRun:
    """What one Locust run against one target produced, before it becomes a ScenarioResult."""

    target: str
    scenario: Scenario
    out_dir: Path
    started_at: float
    duration_s: float
    metrics: dict[str, float | None]
    samples_count: int
    windows: list[dict[str, Any]]
    notes: list[str]
    llm_stats: dict[str, Any]
    metrics_scrape: dict[str, Any]
    alerts: dict[str, Any]
    series: dict[str, Any]
    status_counts: dict[str, int]
    endpoints: dict[str, Any]
    latency_ms: dict[str, float]
    health_latency_ms: dict[str, float]
    requests_total: int
    transport_errors: int
    load_generator_cpu_percent: float | None = None


def _reset_fakes(target: TargetEndpoints) -> None:
    for url in (target.llm_control_url, target.memory_control_url, target.webhook_control_url):
        with contextlib.suppress(httpx.HTTPError):
            fake_call(url, "POST", "/reset")


def _alerts(target: TargetEndpoints) -> dict[str, Any]:
    try:
        cards = fake_call(target.webhook_control_url, "GET", "/cards") or {}
    except httpx.HTTPError:
        return {}
    out: dict[str, Any] = {"P0": 0, "P1": 0, "P2": 0, "titles": []}
    for card in cards.get("cards", []):
        level = card.get("level", "")
        out[level] = out.get(level, 0) + 1
        if card.get("title") and card["title"] not in out["titles"]:
            out["titles"].append(card["title"])
    return out


def run_locust_on_target(
    group: ProcessGroup,
    target: TargetEndpoints,
    scenario: Scenario,
    out_dir: Path,
    options: RunOptions,
) -> RawRun:
    """Run the scenario's load and faults against ``target``; wait until both are done."""
    import psutil

    out_dir.mkdir(parents=True, exist_ok=True)
    stages = options.stages or scaled_stages(scenario, options.time_scale, options.duration_factor)
    total_s = stages[-1].end_s if stages else 0.0
    _reset_fakes(target)
    timeouts_before = count_worker_timeouts(target.log_dir, target.name)
    env = {
        "LOADTEST_STAGES": _stages_env(stages),
        "LOADTEST_OUT_DIR": str(out_dir),
        # short (ids are <= 64 chars) and unique per run, target and variant
        "LOADTEST_RUN_ID": hashlib.sha1(
            f"{options.run_id}-{target.name}-{options.variant}-{time.time()}".encode()
        ).hexdigest()[:10],
        "TIME_SCALE": str(options.time_scale),
        # Locust puts the locustfile's own folder on sys.path; the package needs the root.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        **options.extra_env,
    }
    name = f"locust-{target.name}-{scenario.name}{'-' + options.variant if options.variant else ''}"
    process = group.start(
        name, locust_argv(target.lb_url, out_dir, processes=options.processes), env=env
    )
    watcher = MetricsWatcher(target.metrics_url)
    watcher.start()
    driver: FaultDriver | None = None
    cpu = None
    try:
        wait_for_file(out_dir / STARTED_FILE, timeout=60.0, alive=process.alive)
        started_at = json.loads((out_dir / STARTED_FILE).read_text())["started_at"]
        with contextlib.suppress(psutil.Error):
            cpu = psutil.Process(process.pid)
            cpu.cpu_percent(None)
        driver = FaultDriver(target, options.time_scale, started_at)
        _drive_faults(driver, scenario, options, started_at, total_s, process.alive)
        assert process.popen is not None
        deadline = started_at + total_s + 60.0
        while process.alive() and time.time() < deadline:
            time.sleep(0.2)
        if process.alive():
            raise LoadRunError(f"Locust did not stop {total_s:.0f}s after start (see {out_dir})")
    finally:
        if driver is not None:
            driver.remove_all()
        watcher.finish()
        process.stop(grace=10)
    cpu_percent = None
    if cpu is not None:
        with contextlib.suppress(psutil.Error):
            cpu_percent = cpu.cpu_percent(None)
    # a nightly job still running after the load gets a bounded moment to answer (it started
    # a whole stage earlier; past this it counts as not completed)
    driver.wait_background(timeout=10.0)
    return _collect(
        target,
        scenario,
        out_dir,
        started_at,
        total_s,
        stages,
        driver,
        watcher,
        timeouts_before,
        cpu_percent,
    )


def _drive_faults(
    driver: FaultDriver,
    scenario: Scenario,
    options: RunOptions,
    started_at: float,
    total_s: float,
    alive: Callable[[], bool],
) -> None:
    """Apply and remove the faults at their (scaled) marks, while Locust runs."""
    events: list[tuple[float, int, Fault, str]] = []
    for i, fault in enumerate(scenario.faults):
        events.append(
            (scaled(fault.start_s, options.time_scale, options.duration_factor), i, fault, "apply")
        )
        if fault.end_s is not None:
            events.append(
                (
                    scaled(fault.end_s, options.time_scale, options.duration_factor),
                    i,
                    fault,
                    "remove",
                )
            )
    events.sort(key=lambda e: (e[0], e[3] == "apply"))
    for at_s, _i, fault, action in events:
        if at_s >= total_s:
            continue
        while time.time() < started_at + at_s and alive():
            time.sleep(min(0.05, max(0.0, started_at + at_s - time.time())))
        if not alive():
            return
        if action == "apply":
            driver.apply(fault)
        else:
            driver.remove(fault)


def _collect(
    target: TargetEndpoints,
    scenario: Scenario,
    out_dir: Path,
    started_at: float,
    total_s: float,
    stages: list[ScaledStage],
    driver: FaultDriver,
    watcher: MetricsWatcher,
    timeouts_before: int,
    cpu_percent: float | None,
) -> RawRun:
    samples = read_samples(out_dir, started_at)
    if not samples:
        raise LoadRunError(f"Locust recorded no request against {target.name} (see {out_dir})")
    notes = list(driver.notes)
    llm_stats: dict[str, Any] = {}
    try:
        llm_stats = fake_call(target.llm_control_url, "GET", "/stats") or {}
    except httpx.HTTPError as exc:
        notes.append(f"LLM fake stats unavailable: {exc}")
    by_task = llm_stats.get("calls_by_task", {}) or {}
    by_status = llm_stats.get("responses_by_status", {}) or {}
    extras: dict[str, float | None] = {
        "faults_applied": driver.applied - driver.rejected,
        # a job that did not answer 2xx (503 on an exhausted pool, killed worker, still
        # running after the load) did not survive; None: no nightly job in this scenario
        "nightly_jobs_failed": driver.nightly_started - driver.nightly_completed - driver.rejected
        if driver.nightly_started
        else None,
        "worker_timeouts": count_worker_timeouts(target.log_dir, target.name) - timeouts_before,
        "event_loop_lag_max_s": watcher.lag_max,
        "llm_calls_total": llm_stats.get("calls_total"),
        "llm_analysis_calls": sum(by_task.get(t, 0) for t in ANALYSIS_TASKS) if by_task else None,
        "llm_429_responses": by_status.get("429", 0) if llm_stats else None,
        "llm_503_responses": by_status.get("503", 0) if llm_stats else None,
    }
    # The incident must be over in the second half of the last stage (recovery).
    last = stages[-1]
    recovery_from = last.start_s + (last.end_s - last.start_s) / 2 if len(stages) > 1 else None
    metrics = compute_metrics(samples, extras, recovery_from_s=recovery_from)
    normal = [s for s in samples if s.group == "normal"]
    health = [s.latency_ms for s in samples if s.endpoint == "GET /health"]
    return RawRun(
        target=target.name,
        scenario=scenario,
        out_dir=out_dir,
        started_at=started_at,
        duration_s=round(max(total_s, samples[-1].t_s), 3),
        metrics=metrics,
        samples_count=len(samples),
        windows=driver.windows,
        notes=notes,
        llm_stats=llm_stats,
        metrics_scrape=watcher.last,
        alerts=_alerts(target),
        series=series(samples),
        status_counts=status_counts(samples),
        endpoints=endpoint_stats(samples),
        latency_ms=latency_summary(s.latency_ms for s in normal),
        health_latency_ms=latency_summary(health),
        requests_total=len(samples),
        transport_errors=sum(1 for s in samples if s.status is None),
        load_generator_cpu_percent=cpu_percent,
    )


def to_scenario_result(
    raw: RawRun,
    time_scale: float,
    *,
    kind: str = "load",
    variant: str = "",
    duration_factor: float = 1.0,
    expected_to_fail: bool | None = None,
) -> ScenarioResult:
    scenario = raw.scenario
    expectations = [
        t.evaluate(raw.metrics, time_scale, duration_factor) for t in scenario.thresholds
    ]
    if expected_to_fail is None:
        expected_to_fail = raw.target == "legacy" and scenario.legacy_expected_to_fail
    conversations = raw.metrics.get("conversation_end_count") or 0
    llm_total = raw.llm_stats.get("calls_total")
    notes = list(raw.notes)
    first, last = raw.metrics.get("first_lb_504_s"), raw.metrics.get("last_lb_504_s")
    if first is not None:
        notes.append(f"LB 504s from {first:.1f}s to {last:.1f}s after the start")
    if raw.metrics.get("worker_timeouts"):
        notes.append(f"gunicorn killed {raw.metrics['worker_timeouts']:g} blocked worker(s)")
    return ScenarioResult(
        target=raw.target,
        scenario=scenario.name,
        kind=kind,
        started_at=datetime.fromtimestamp(raw.started_at, UTC).isoformat(),
        duration_s=raw.duration_s,
        expectations=expectations,
        expected_to_fail=expected_to_fail,
        description=scenario.description,
        variant=variant,
        requests_total=raw.requests_total,
        transport_errors=raw.transport_errors,
        status_counts=raw.status_counts,
        latency_ms=raw.latency_ms,
        endpoints=raw.endpoints,
        health_latency_ms=raw.health_latency_ms,
        llm_calls={
            "total": llm_total,
            "by_task": raw.llm_stats.get("calls_by_task", {}),
            "per_request": raw.metrics.get("llm_calls_per_conversation"),
            "responses_by_status": raw.llm_stats.get("responses_by_status", {}),
        }
        if raw.llm_stats
        else {},
        breaker_transitions=raw.metrics_scrape.get("breaker_transitions", []),
        alerts=raw.alerts,
        event_loop_lag_max_s=raw.metrics.get("event_loop_lag_max_s"),
        fault_windows=raw.windows,
        series=raw.series,
        notes=notes,
        extra={
            "lb_504_count": raw.metrics.get("lb_504_count"),
            "worker_timeouts": raw.metrics.get("worker_timeouts"),
            "metrics": raw.metrics,
            "locust_csv": str(raw.out_dir / "locust_stats.csv"),
            "locust_html": str(raw.out_dir / "locust.html"),
            "conversations": conversations,
        },
    )
