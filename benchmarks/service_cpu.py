"""CPU time the refactored service spends per request, under a closed loop of clients.

Boots what the request needs, the way the stack runs it (``testbed.services``: gunicorn
with uvicorn workers, the same command line), straight on the service (no load balancer,
no Toxiproxy): a migrated scratch PostgreSQL database, the fakes from ``doubles/fakes``
(the LLM answers after a fixed ``--latency-ms``, 200 ms), the rate limiter's shared store
(``testbed.rate_limit_store``: Redis when one answers). The rate limiter stays on with
its default limits: each client rotates through loopback source addresses (127.B.x.y),
at most ``PER_ADDRESS`` requests from each, so no client is ever throttled and the
store's round trips stay in the bill.

``--clients`` concurrent clients (aiohttp, in their own process) send requests back to
back for ``--warmup`` + ``--duration`` seconds; over the measured window the CPU seconds
(user + system) of the whole gunicorn process tree (master and every worker) are divided
by the successful answers completed in it. Workloads:

* ``suggest``: ``POST /v1/activities/suggest`` on a seeded friendship (one read, one LLM
  call); a success is a 200 with ``source: llm``.
* ``end``: ``POST /v1/conversations/end`` with a unique conversation id (three concurrent
  LLM calls, the Memory API, one transaction with the outbox event); a success is a 200
  with nothing ``degraded``.

Each workload runs ``--rounds`` times on the same service; the report gives every round
and the median and spread. Writes ``reports/bench-service-cpu.json``.

    python -m benchmarks.service_cpu [--workload suggest end] [--clients 64] [--duration 20]
    python -m benchmarks.service_cpu --rounds 1 --py-spy reports/profile  # + py-spy raw profiles
    python -m benchmarks.service_cpu --top reports/profile/suggest-0.txt   # their top entries
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from testbed.processes import ProcessGroup

WORKLOADS = ("suggest", "end")
PATHS = {"suggest": "/v1/activities/suggest", "end": "/v1/conversations/end"}
PER_ADDRESS = 50  # requests per source address: below every route's limit (60/minute)
AGENT = "bench-agent"
DRIVER_START_DELAY_S = 2.0  # the driver imports aiohttp and opens no connection before this
ENDPOINT_FRAME = "run_endpoint_function"  # FastAPI's call of the route's function
TOPICS = ("music", "food", "travel", "sports", "movies")


# ---- the client (its own process: ``--drive CONFIG``) ---------------------------------------


def source_address(base: int, n: int) -> str:
    """The ``n``-th loopback source address of a run: 127.base.x.y, y in 1..254."""
    return f"127.{base}.{(n // 254) % 256}.{n % 254 + 1}"


def end_body(client: int, n: int, run: str, at: datetime) -> dict[str, Any]:
    started = at - timedelta(minutes=5)
    messages = [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message {i}: I love {TOPICS[i % len(TOPICS)]}, do you?",
            "ts": (started + timedelta(seconds=30 * i)).isoformat(),
        }
        for i in range(6)
    ]
    return {
        "conversation_id": f"{run}-{client}-{n}",
        "user_id": f"bench-u{client}",
        "agent_id": AGENT,
        "started_at": started.isoformat(),
        "ended_at": at.isoformat(),
        "messages": messages,
    }


def succeeded(workload: str, status: int, body: bytes) -> str:
    """``ok``, ``degraded`` (a 200 from a fallback) or ``failed``."""
    if status != 200:
        return "failed"
    try:
        answer = json.loads(body)
    except ValueError:
        return "failed"
    if workload == "suggest":
        return "ok" if answer.get("source") == "llm" else "degraded"
    return "degraded" if answer.get("degraded") else "ok"


async def drive(config: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    workload, url, run = config["workload"], config["url"], config["run"]
    path = PATHS[workload]
    start_at, stop_at = config["start_at"], config["stop_at"]
    completions: list[tuple[float, str]] = []
    statuses: dict[str, int] = {}
    next_address = 0
    at = datetime.now(UTC) - timedelta(minutes=1)
    headers = {"Content-Type": "application/json"}

    async def client(index: int) -> None:
        nonlocal next_address
        n = 0
        while time.monotonic() < stop_at:
            address = source_address(config["address_base"], next_address)
            next_address += 1
            connector = aiohttp.TCPConnector(limit=1, local_addr=(address, 0))
            async with aiohttp.ClientSession(url, connector=connector) as session:
                for _ in range(PER_ADDRESS):
                    if time.monotonic() >= stop_at:
                        return
                    if workload == "suggest":
                        payload: dict[str, Any] = {
                            "user_id": f"bench-u{index}",
                            "agent_id": AGENT,
                            "limit": 3,
                        }
                    else:
                        payload = end_body(index, n, run, at)
                    n += 1
                    data = json.dumps(payload).encode()
                    try:
                        async with session.post(path, data=data, headers=headers) as response:
                            body = await response.read()
                            status = response.status
                    except aiohttp.ClientError as exc:
                        status, body = 0, repr(exc).encode()
                    outcome = succeeded(workload, status, body)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    completions.append((time.monotonic(), outcome))

    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    await asyncio.gather(*(client(i) for i in range(config["clients"])))
    return {"completions": completions, "statuses": statuses, "addresses": next_address}


# ---- the service and what it needs -----------------------------------------------------------


@dataclass
class Service:
    url: str
    master_pid: int
    fake_pids: dict[str, int]
    rate_limit_store: str


def tree_cpu(root_pid: int, system_only: bool = False) -> dict[int, float]:
    """user + system (or system only) CPU seconds of ``root_pid`` and of each descendant."""
    root = psutil.Process(root_pid)
    seconds: dict[int, float] = {}
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        seconds[proc.pid] = times.system if system_only else times.user + times.system
    return seconds


def seed_friendships(database_url: str, clients: int) -> None:
    """One friendship with a few topics per client, so ``suggest`` reads a real row."""
    import psycopg2

    now = datetime.now(UTC)
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            for i in range(clients):
                cur.execute(
                    "INSERT INTO friendships (user_id, agent_id, score, level, "
                    "last_interaction_at, created_at, updated_at) VALUES "
                    "(%s, %s, 42, 'friend', %s, %s, %s) ON CONFLICT DO NOTHING",
                    (f"bench-u{i}", AGENT, now, now, now),
                )
                for j, topic in enumerate(TOPICS[:3]):
                    cur.execute(
                        "INSERT INTO topic_metrics (user_id, agent_id, topic, mentions, "
                        "positive, negative, last_seen) VALUES (%s, %s, %s, %s, 1, 0, %s) "
                        "ON CONFLICT DO NOTHING",
                        (f"bench-u{i}", AGENT, topic, 5 - j, now),
                    )
    finally:
        conn.close()


def boot(group: ProcessGroup, args: argparse.Namespace, database_url: str) -> Service:
    from testbed.fakes import start_fake
    from testbed.rate_limit_store import rate_limit_store
    from testbed.services import start_service
    from testbed.stack import build_service_env
    from testbed.target import configured_app_deadline_s

    fakes = {kind: start_fake(group, kind) for kind in ("llm", "memory", "webhook")}
    fakes["llm"].control.set_faults(latency_ms=args.latency_ms)
    store = rate_limit_store(group)
    env = build_service_env(
        "refactored",
        database_url=database_url,
        llm_url=fakes["llm"].base_url,
        memory_url=fakes["memory"].base_url,
        webhook_url=fakes["webhook"].base_url,
        amqp_url=None,
        admin_token="bench-admin-token",
        time_scale=args.time_scale,
        rate_limit=store.service_env("refactored"),
        overrides=dict(args.env),
    )
    deadline = configured_app_deadline_s("refactored", env) or 55.0
    handle = start_service(group, "refactored", env, workers=args.workers, timeout_s=deadline)
    return Service(
        handle.base_url,
        handle.process.pid,
        {kind: f.process.pid for kind, f in fakes.items()},
        store.kind,
    )


# ---- one measured round ----------------------------------------------------------------------


def run_round(
    service: Service, args: argparse.Namespace, workload: str, index: int, work_dir: Path
) -> dict[str, Any]:
    config_path, result_path = work_dir / f"drive-{index}.json", work_dir / f"result-{index}.json"
    start_at = time.monotonic() + DRIVER_START_DELAY_S
    window = (start_at + args.warmup, start_at + args.warmup + args.duration)
    config = {
        "workload": workload,
        "url": service.url,
        "run": f"r{os.getpid()}-{index}",
        "clients": args.clients,
        "start_at": start_at,
        "stop_at": window[1] + 0.5,
        "address_base": args.address_base + index,
    }
    config_path.write_text(json.dumps(config))
    driver = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.service_cpu", "--drive", str(config_path)],
        stdout=result_path.open("w"),
    )
    profiler = None
    try:
        time.sleep(max(0.0, window[0] - time.monotonic()))
        before = tree_cpu(service.master_pid)
        system_before = sum(tree_cpu(service.master_pid, system_only=True).values())
        fakes_before = {k: sum(tree_cpu(p).values()) for k, p in service.fake_pids.items()}
        driver_before = sum(tree_cpu(driver.pid).values())
        if args.py_spy:
            profiler = start_profiler(service, args, workload, index)
        time.sleep(max(0.0, window[1] - time.monotonic()))
        after = tree_cpu(service.master_pid)
        system_after = sum(tree_cpu(service.master_pid, system_only=True).values())
        fakes_after = {k: sum(tree_cpu(p).values()) for k, p in service.fake_pids.items()}
        driver_after = sum(tree_cpu(driver.pid).values())
    finally:
        if driver.wait(timeout=args.duration + args.warmup + 120) != 0:
            raise RuntimeError(f"the load driver failed (exit {driver.returncode})")
        if profiler is not None:
            profiler.wait(timeout=60)
    if set(after) != set(before):
        raise RuntimeError(
            f"the service's processes changed during the round ({sorted(before)} -> "
            f"{sorted(after)}): a worker restarted; see the service log"
        )
    result = json.loads(result_path.read_text())
    in_window = [o for t, o in result["completions"] if window[0] <= t < window[1]]
    ok = in_window.count("ok")
    cpu_s = sum(after.values()) - sum(before.values())
    per_process = {
        ("master" if pid == service.master_pid else f"worker {pid}"): round(after[pid] - s, 3)
        for pid, s in before.items()
    }
    return {
        "round": index,
        "seconds": args.duration,
        "requests": len(in_window),
        "ok": ok,
        "degraded": in_window.count("degraded"),
        "failed": in_window.count("failed"),
        "statuses": result["statuses"],
        "source_addresses": result["addresses"],
        "rps": round(ok / args.duration, 1),
        "service_cpu_s": round(cpu_s, 3),
        "service_system_cpu_s": round(system_after - system_before, 3),
        "service_cpu_ms_per_request": round(cpu_s / ok * 1000, 3) if ok else None,
        "service_cpu_percent": round(cpu_s / args.duration * 100, 1),
        "service_cpu_s_by_process": per_process,
        "fakes_cpu_s": {k: round(fakes_after[k] - v, 3) for k, v in fakes_before.items()},
        "driver_cpu_s": round(driver_after - driver_before, 3),
        "py_spy": bool(args.py_spy),
    }


def start_profiler(
    service: Service, args: argparse.Namespace, workload: str, index: int
) -> subprocess.Popen[bytes]:
    """py-spy on the first worker for the rest of the window (``--py-spy DIR``)."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    workers = psutil.Process(service.master_pid).children()
    args.py_spy.mkdir(parents=True, exist_ok=True)
    out = args.py_spy / f"{workload}-{index}.txt"
    argv = [binary, "record", "--pid", str(workers[0].pid), "--format", "raw"]
    argv += ["--rate", "200", "--duration", str(int(args.duration) - 1), "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_entries(path: Path, n: int = 25) -> str:
    """The top of a ``py-spy record --format raw`` profile: the share of samples per
    function, by itself (self) and with what it calls (inclusive)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples; self:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in own.most_common(n)]
    # the server, the loop and the middleware chain hold every endpoint call: below it only
    endpoint = max((v for k, v in inclusive.items() if k.startswith(ENDPOINT_FRAME)), default=0)
    lines.append(f"inclusive, below {ENDPOINT_FRAME} ({100 * endpoint / total:.1f}%):")
    below = [(k, v) for k, v in inclusive.most_common() if v < endpoint][:n]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in below]
    return "\n".join(lines)


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    values = [r["service_cpu_ms_per_request"] for r in rounds if r["service_cpu_ms_per_request"]]
    rps = [r["rps"] for r in rounds]
    if not values:
        return {"service_cpu_ms_per_request": None}
    return {
        "service_cpu_ms_per_request": round(statistics.median(values), 3),
        "service_cpu_ms_per_request_min": min(values),
        "service_cpu_ms_per_request_max": max(values),
        "rps_median": round(statistics.median(rps), 1),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "error_rate": round(
            sum(r["failed"] + r["degraded"] for r in rounds)
            / max(1, sum(r["requests"] for r in rounds)),
            4,
        ),
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from testbed.postgres import postgres_server, temporary_database

    work_dir = Path(tempfile.mkdtemp(prefix="bench-service-cpu-"))
    report: dict[str, Any] = {
        "benchmark": "service_cpu",
        "commit": git_commit(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "workers": args.workers,
        "clients": args.clients,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "llm_latency_ms": args.latency_ms,
        "time_scale": args.time_scale,
        "env_overrides": dict(args.env),
        "definition": "service_cpu_ms_per_request = (user + system CPU seconds of the gunicorn "
        "master and every worker over the window) / successful answers completed in it",
        "workloads": {},
    }
    with (
        ProcessGroup(work_dir / "logs") as group,
        postgres_server(group) as admin_url,
        temporary_database(admin_url, prefix="bench_cpu") as database_url,
    ):
        seed_friendships(database_url, args.clients)
        service = boot(group, args, database_url)
        report["rate_limit_store"] = service.rate_limit_store
        print(f"service {service.url} (logs in {work_dir / 'logs'})", file=sys.stderr)
        index = 0
        for workload in args.workload:
            rounds = []
            for _ in range(args.rounds):
                row = run_round(service, args, workload, index, work_dir)
                index += 1
                rounds.append(row)
                print(
                    f"  {workload} round {row['round']}: {row['rps']} req/s ok, "
                    f"{row['service_cpu_ms_per_request']} CPU ms/request "
                    f"({row['failed']} failed, {row['degraded']} degraded)",
                    file=sys.stderr,
                )
            report["workloads"][workload] = {"rounds": rounds, **summary(rounds)}
    return report


def env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--env wants NAME=VALUE, not {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workload", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload (3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument(
        "--address-base",
        type=int,
        default=10,
        help="first B of the clients' 127.B.x.y addresses, one B per round (10); two runs at "
        "once on one Redis need bases rounds apart, or they share the limiter's counters",
    )
    parser.add_argument("--latency-ms", type=float, default=200.0, help="the fake LLM's (200)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="TIME_SCALE of the service (1: timeouts "
        "never fire on a loaded machine, so every request takes the full path)",
    )
    parser.add_argument(
        "--env",
        type=env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the service to override (repeatable), e.g. DB_POOL_SIZE=15",
    )
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="profile the first worker")
    parser.add_argument("--top", type=Path, metavar="RAW", help="print a py-spy raw profile's top")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("REPORTS_DIR", "reports")) / "bench-service-cpu.json",
    )
    args = parser.parse_args(argv)
    if args.top:
        print(top_entries(args.top))
        return 0
    if args.drive:
        result = asyncio.run(drive(json.loads(args.drive.read_text())))
        json.dump(result, sys.stdout)
        return 0
    report = measure(args)
    print(f"{'workload':<10} {'CPU ms/req':>11} {'min':>7} {'max':>7} {'req/s':>7} {'errors':>7}")
    for name, w in report["workloads"].items():
        print(
            f"{name:<10} {w['service_cpu_ms_per_request']!s:>11} "
            f"{w.get('service_cpu_ms_per_request_min')!s:>7} "
            f"{w.get('service_cpu_ms_per_request_max')!s:>7} {w.get('rps_median')!s:>7} "
            f"{w.get('error_rate')!s:>7}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
