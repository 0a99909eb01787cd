"""``python -m doubles.toxiproxy --host 127.0.0.1 --port PORT [--seed N]``.

Also accepts toxiproxy-server's single-dash flags (``-host``, ``-port``, ``-seed``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from doubles.toxiproxy import VERSION
from doubles.toxiproxy.api import ProxyRegistry, create_app
from doubles.toxiproxy.proxy import is_loopback
from doubles.toxiproxy.toxics import ApiError

log = logging.getLogger("doubles.toxiproxy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m doubles.toxiproxy",
        description="Toxiproxy-compatible chaos TCP proxy (HTTP API on --host:--port).",
    )
    parser.add_argument("--host", "-host", default="127.0.0.1", help="API host (loopback)")
    parser.add_argument("--port", "-port", type=int, default=8474, help="API port (8474)")
    parser.add_argument(
        "--seed",
        "-seed",
        type=int,
        default=None,
        help="seed for toxicity, jitter and slicer draws (default: random, printed at start)",
    )
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow the API and proxies to bind addresses other than loopback",
    )
    parser.add_argument(
        "--config",
        "-config",
        type=Path,
        default=None,
        help="JSON file with a list of proxies to create at start (as toxiproxy-server -config)",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (INFO)")
    return parser.parse_args(argv)


def read_config(path: Path) -> list[object]:
    try:
        proxies = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: cannot read --config {path}: {exc}") from exc
    if not isinstance(proxies, list):
        raise SystemExit(f"error: --config {path} must hold a JSON list of proxies")
    return proxies


async def serve(
    host: str, port: int, seed: int, allow_non_loopback: bool, config: list[object]
) -> None:
    registry = ProxyRegistry(seed, allow_non_loopback)
    try:
        _proxies, error = await registry.populate(config)
    except ApiError as exc:
        error = exc
    if error is not None:
        # toxiproxy-server only logs a bad -config and serves on; here it is fatal (exit 1)
        await registry.close()
        raise SystemExit(f"error: --config: {error.message}")
    runner = web.AppRunner(create_app(registry), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc}. "
            "Is another Toxiproxy (or other process) using that port? Pick a free one with --port."
        ) from exc
    log.info(
        "toxiproxy-compatible server %s listening on http://%s:%d seed=%d",
        VERSION,
        host,
        port,
        seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``uvicorn[standard]`` brings it), else
    asyncio's (None). The same streams and sockets on a loop written in C: about a third
    less CPU per forwarded round trip and per connection (docs/performance.md, third pass).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.allow_non_loopback and not is_loopback(args.host):
        print(
            f"error: --host {args.host} is not a loopback address; this server binds 127.0.0.1 "
            "only. Pass --allow-non-loopback if you really mean to expose it.",
            file=sys.stderr,
        )
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    try:
        config = read_config(args.config) if args.config else []
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(args.host, args.port, seed, args.allow_non_loopback, config))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
