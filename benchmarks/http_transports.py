"""Which HTTP client lets one worker approach concurrency / latency against a slow upstream?

Plain ``httpx.AsyncClient`` vs ``httpx.AsyncClient`` on the ``httpx-aiohttp``
transport vs raw ``aiohttp``, against a local upstream that answers every
request after 200 ms (run in its own process, so it never competes with the
client's event loop), at 64 and 256 concurrent calls. The ideal throughput is
concurrency / 0.2 s. Prints a table and writes ``reports/bench-transports.json``.

    python -m benchmarks.http_transports [--rounds 5] [--concurrency 64 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from testbed.net import LOOPBACK, free_port, wait_for_http
from testbed.processes import ProcessGroup

UPSTREAM_DELAY_S = 0.2


def serve(port: int) -> None:
    """The slow upstream: 200 ms, then a small JSON body like an LLM answer."""

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(UPSTREAM_DELAY_S)
        return web.json_response({"choices": [{"message": {"content": '{"emotion": "neutral"}'}}]})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/chat/completions", answer)
    app.router.add_get("/health", health)
    web.run_app(app, host=LOOPBACK, port=port, print=None, access_log=None, backlog=4096)


Call = Callable[[], Awaitable[None]]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def run_load(call: Call, concurrency: int, rounds: int) -> dict[str, float]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(concurrency)))  # warm up connections
    latencies.clear()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency * rounds)))
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    latencies.sort()
    total = len(latencies)
    return {
        "requests": total,
        "seconds": round(wall, 3),
        "rps": round(total / wall, 1),
        "ideal_rps": round(concurrency / UPSTREAM_DELAY_S, 1),
        "efficiency": round((total / wall) / (concurrency / UPSTREAM_DELAY_S), 3),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(total * 0.95) - 1] * 1000, 1),
        "cpu_ms_per_request": round(cpu / total * 1000, 3),
    }


async def bench_client(name: str, base_url: str, concurrency: int, rounds: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(30.0)
    if name == "aiohttp":
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as session:

            async def call() -> None:
                async with session.post("/chat/completions", json=BODY) as response:
                    await response.json()

            return await run_load(call, concurrency, rounds)
    transport: httpx.AsyncBaseTransport = (
        AiohttpTransport(limits=limits)
        if name == "httpx-aiohttp"
        else httpx.AsyncHTTPTransport(limits=limits)
    )
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout) as client:

        async def call() -> None:
            response = await client.post("/chat/completions", json=BODY)
            response.json()

        return await run_load(call, concurrency, rounds)


CLIENTS = ("httpx", "httpx-aiohttp", "aiohttp")


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'client':<14} {'conc':>5} {'req/s':>8} {'ideal':>7} {'eff':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'cpu ms/req':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['client']:<14} {r['concurrency']:>5} {r['rps']:>8} {r['ideal_rps']:>7} "
            f"{r['efficiency']:>6} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['cpu_ms_per_request']:>11}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="requests per slot (default 5)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("REPORTS_DIR", "reports")) / "bench-transports.json",
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    rows: list[dict[str, Any]] = []
    with ProcessGroup(Path(tempfile.mkdtemp(prefix="bench-transports-"))) as group:
        port = free_port()
        group.start(
            "bench-upstream",
            [sys.executable, "-m", "benchmarks.http_transports", "--serve", str(port)],
        )
        wait_for_http(f"http://{LOOPBACK}:{port}/health", timeout=30)
        base_url = f"http://{LOOPBACK}:{port}"
        for concurrency in args.concurrency:
            for name in CLIENTS:
                result = asyncio.run(bench_client(name, base_url, concurrency, args.rounds))
                rows.append({"client": name, "concurrency": concurrency, **result})
                print(f"  {name} @ {concurrency}: {result['rps']} req/s", file=sys.stderr)
    print_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "http_transports",
                "upstream_delay_s": UPSTREAM_DELAY_S,
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
