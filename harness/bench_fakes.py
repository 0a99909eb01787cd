"""Throughput of the fake LLM under added latency: ``python -m harness.bench_fakes``.

Starts ``python -m doubles.fakes.llm`` as its own process, sets ``latency_ms``,
and keeps ``--concurrency`` requests in flight (one connection each) with
aiohttp for ``--duration`` seconds. The ceiling is concurrency / latency
(256 / 0.2 s = 1280 req/s); the fake must stay far from being the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from testbed.fakes import start_fake
from testbed.processes import ProcessGroup

_BODY = json.dumps(
    {
        "model": "bench",
        "messages": [
            {"role": "system", "content": "TASK: emotion\nAnswer JSON."},
            {
                "role": "user",
                "content": json.dumps(
                    [{"role": "user", "content": "I love music and pho, do you?", "ts": "t"}] * 4
                ),
            },
        ],
    }
).encode()


async def _drive(base_url: str, concurrency: int, duration_s: float) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + duration_s
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(base_url, connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            while time.monotonic() < stop_at:
                started = time.monotonic()
                async with session.post("/chat/completions", data=_BODY, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures += 1
                latencies.append(time.monotonic() - started)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of ``pid`` (Linux /proc): the fake's cost, not the client's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    args = parser.parse_args()
    with ProcessGroup(Path(tempfile.mkdtemp(prefix="fake-bench-"))) as group:
        fake = start_fake(group, "llm")
        fake.control.set_faults(latency_ms=args.latency_ms)
        cpu_before = cpu_seconds(fake.process.pid)
        result = asyncio.run(_drive(fake.base_url, args.concurrency, args.duration))
        fake_cpu_s = cpu_seconds(fake.process.pid) - cpu_before
        stats = fake.control.stats()
    capacity = result["requests"] / fake_cpu_s if fake_cpu_s else float("inf")
    ceiling = args.concurrency / (args.latency_ms / 1000) if args.latency_ms else float("inf")
    print(
        f"concurrency={args.concurrency} latency_ms={args.latency_ms:g} "
        f"requests={result['requests']:.0f} failures={result['failures']:.0f} "
        f"rps={result['rps']:.0f} (ceiling {ceiling:.0f}) p50_ms={result['p50_ms']:.0f} "
        f"p99_ms={result['p99_ms']:.0f} fake_max_in_flight={stats['max_in_flight']} "
        f"fake_cpu_s={fake_cpu_s:.1f} fake_rps_per_cpu_second={capacity:.0f}"
    )


if __name__ == "__main__":
    main()
