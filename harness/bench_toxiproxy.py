"""Overhead of the Toxiproxy-compatible server with no toxic, against a direct connection.

``python -m harness.bench_toxiproxy [--round-trips N] [--bulk-mb M] [--output PATH]``

Measures, through a proxy and directly to the same upstream (a separate process):
added latency (p50/p99) of small request/response round trips on one connection, and
throughput (MB/s) of a bulk download. Prints a table, writes reports/bench-toxiproxy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from doubles.toxiproxy import VERSION
from testbed.net import free_port, wait_for_port
from testbed.processes import ProcessGroup
from testbed.toxiproxy import start_toxiproxy

PAYLOAD = b"x" * 64
BLOCK = b"x" * 65536


# ---- upstream process: an echo port and a "send me N bytes" port ---------------------------
async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _blob(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ValueError):
        remaining = int((await reader.readline()).strip())
        while remaining > 0:
            writer.write(BLOCK[: min(remaining, len(BLOCK))])
            remaining -= min(remaining, len(BLOCK))
            await writer.drain()
    writer.close()


async def _serve_upstreams(echo_port: int, blob_port: int) -> None:
    await asyncio.start_server(_echo, "127.0.0.1", echo_port)
    await asyncio.start_server(_blob, "127.0.0.1", blob_port)
    await asyncio.Event().wait()


# ---- measurements ----------------------------------------------------------------------------
def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_round_trips(port: int, count: int) -> list[float]:
    """Seconds per 64-byte echo round trip on one connection (after a short warm-up)."""
    timings: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(count + 50):
            started = time.perf_counter()
            sock.sendall(PAYLOAD)
            received = 0
            while received < len(PAYLOAD):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("upstream closed during the round-trip benchmark")
                received += len(chunk)
            if index >= 50:
                timings.append(time.perf_counter() - started)
    return timings


def measure_bulk(port: int, size: int) -> float:
    """MB/s (10^6 bytes) downloading ``size`` bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        started = time.perf_counter()
        sock.sendall(f"{size}\n".encode())
        received = 0
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        elapsed = time.perf_counter() - started
    if received != size:
        raise ConnectionError(f"bulk transfer got {received} of {size} bytes")
    return size / elapsed / 1e6


def run(round_trips: int, bulk_mb: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as logs, ProcessGroup(Path(logs)) as group:
        echo_port, blob_port = free_port(), free_port()
        group.start(
            "bench-upstream",
            [
                sys.executable,
                "-m",
                "harness.bench_toxiproxy",
                "--serve-upstreams",
                f"{echo_port},{blob_port}",
            ],
            cwd=Path(__file__).resolve().parents[1],
        )
        wait_for_port(echo_port)
        wait_for_port(blob_port)
        server = start_toxiproxy(group, seed=0)
        with httpx.Client(base_url=server.url, timeout=10) as api:
            ports = {}
            for name, upstream in (("echo", echo_port), ("blob", blob_port)):
                body = {"name": name, "upstream": f"127.0.0.1:{upstream}"}
                ports[name] = int(
                    api.post("/proxies", json=body).json()["listen"].rsplit(":", 1)[1]
                )
        direct_rt = measure_round_trips(echo_port, round_trips)
        proxy_rt = measure_round_trips(ports["echo"], round_trips)
        size = bulk_mb * 1_000_000
        direct_bulk = statistics.median(measure_bulk(blob_port, size) for _ in range(3))
        proxy_bulk = statistics.median(measure_bulk(ports["blob"], size) for _ in range(3))

    def ms(value: float) -> float:
        return round(value * 1000, 3)

    result: dict[str, object] = {
        "schema_version": 1,
        "server": f"doubles.toxiproxy {VERSION}",
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "round_trips": round_trips,
        "round_trip_ms": {
            "direct": {
                "p50": ms(_percentile(direct_rt, 0.5)),
                "p99": ms(_percentile(direct_rt, 0.99)),
            },
            "proxy": {
                "p50": ms(_percentile(proxy_rt, 0.5)),
                "p99": ms(_percentile(proxy_rt, 0.99)),
            },
        },
        "added_latency_ms": {
            "p50": ms(_percentile(proxy_rt, 0.5) - _percentile(direct_rt, 0.5)),
            "p99": ms(_percentile(proxy_rt, 0.99) - _percentile(direct_rt, 0.99)),
        },
        "bulk_bytes": size,
        "bulk_mb_per_s": {"direct": round(direct_bulk, 1), "proxy": round(proxy_bulk, 1)},
    }
    return result


def print_table(result: dict[str, object]) -> None:
    rt = result["round_trip_ms"]
    added = result["added_latency_ms"]
    bulk = result["bulk_mb_per_s"]
    assert isinstance(rt, dict) and isinstance(added, dict) and isinstance(bulk, dict)
    table = Table(title=f"Toxiproxy-compatible server overhead, no toxic ({result['machine']})")
    for column in ("measure", "direct", "through proxy", "added"):
        table.add_column(column, justify="right")
    for quantile in ("p50", "p99"):
        table.add_row(
            f"64 B round trip {quantile} (ms)",
            f"{rt['direct'][quantile]:.3f}",
            f"{rt['proxy'][quantile]:.3f}",
            f"{added[quantile]:+.3f}",
        )
    table.add_row(
        f"bulk {int(result['bulk_bytes']) // 1_000_000} MB (MB/s)",  # type: ignore[call-overload]
        f"{bulk['direct']:.1f}",
        f"{bulk['proxy']:.1f}",
        f"{bulk['proxy'] / bulk['direct']:.0%} of direct",
    )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench_toxiproxy", description=__doc__)
    parser.add_argument("--round-trips", type=int, default=2000, help="small round trips (2000)")
    parser.add_argument("--bulk-mb", type=int, default=64, help="bulk download size in MB (64)")
    parser.add_argument("--output", type=Path, default=Path("reports/bench-toxiproxy.json"))
    parser.add_argument("--serve-upstreams", help=argparse.SUPPRESS)  # internal: ECHO,BLOB ports
    args = parser.parse_args(argv)
    if args.serve_upstreams:
        echo_port, blob_port = (int(p) for p in args.serve_upstreams.split(","))
        asyncio.run(_serve_upstreams(echo_port, blob_port))
        return 0
    if args.round_trips < 1 or args.bulk_mb < 1:
        parser.error("--round-trips and --bulk-mb must be at least 1")
    result = run(args.round_trips, args.bulk_mb)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
