"""The behavioural probe's child: serve one target's app on a loopback port, as deployed.

``python -m harness.evidence.serve --factory module:attr --port N --package pkg --out DIR``
calls the target's app factory (it reads the environment the parent composed from the
checklist's ``[targets.<t>.probe]``), serves it with one uvicorn worker and, once it has
started, writes ``DIR/facts.json``: what the app process *holds*, found on the heap rather
than in its settings (every SQLAlchemy engine's pool bounds, every httpx client's
timeout). The parent reads that file as "started".

Every OpenTelemetry span that ends is kept (name, duration); SIGHUP writes them to
``DIR/spans.json``. The runtime blocking-call detector (blockbuster, scanned on the
target's package) is switched on by SIGUSR1 and off by SIGUSR2; every blocking call it
catches is appended to ``DIR/blocking.jsonl`` even when the target swallows the
BlockingError. A child process
keeps the target's imports and module-level clients out of the gate's own process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

FACTS = "facts.json"
BLOCKING = "blocking.jsonl"
SPANS = "spans.json"
_spans: list[dict[str, Any]] = []  # every OpenTelemetry SDK span that ended, in order
# The framework's own one-time work, not the target's: FastAPI reads each endpoint's source
# file name on its first request (inspect.getsourcefile, an os.stat) and caches it.
FRAMEWORK_ALLOWED = {"os.stat": ("fastapi/routing.py", {"_extract_endpoint_context"})}


def _load(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _engines() -> list[dict[str, Any]]:
    """Every SQLAlchemy engine alive in this process: the pool it really received."""
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import QueuePool

    found = []
    for obj in gc.get_objects():
        if not isinstance(obj, Engine):
            continue
        pool = obj.pool
        entry: dict[str, Any] = {"url": obj.url.render_as_string(hide_password=True),
                                 "pool": type(pool).__name__}  # fmt: skip
        if isinstance(pool, QueuePool):
            entry["size"] = pool.size()
            entry["max_overflow"] = pool._max_overflow  # what create_engine received
        found.append(entry)
    return found


def _heap_facts() -> dict[str, Any]:
    """Engines and HTTP clients on the heap. gc.get_objects() does not see what the app
    moved to the permanent generation (gc.freeze() after start-up): thawed for the scan,
    frozen again after it."""
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()
    try:
        return {"engines": _engines(), "http_clients": _http_clients(), "gc_frozen": frozen}
    finally:
        if frozen:
            gc.freeze()


def _http_clients() -> list[dict[str, Any]]:
    """Every httpx client alive in this process and the timeouts it was built with."""
    import httpx

    found = []
    for obj in gc.get_objects():
        if isinstance(obj, httpx.Client | httpx.AsyncClient):
            timeout = obj.timeout
            found.append(
                {
                    "kind": type(obj).__name__,
                    "base_url": str(obj.base_url),
                    "read": timeout.read,
                    "connect": timeout.connect,
                }
            )
    return found


def _record_spans() -> None:
    """Keep every ended SDK span's name and duration in memory (no I/O on the loop); SIGHUP
    writes them to ``spans.json``. A target without the OpenTelemetry SDK records none."""
    try:
        from opentelemetry.sdk.trace import Span
    except ImportError:
        return
    original = Span.end

    def end(self: Span, end_time: int | None = None) -> None:
        original(self, end_time)
        if self.start_time is not None and self.end_time is not None:
            _spans.append({"name": self.name, "ms": (self.end_time - self.start_time) / 1e6})

    Span.end = end  # type: ignore[method-assign]


def _dump_spans(out: Path) -> None:
    tmp = out / (SPANS + ".tmp")
    tmp.write_text(json.dumps({"count": len(_spans), "spans": _spans}))
    tmp.replace(out / SPANS)


def _record_blocking(path: Path) -> None:
    """Append every BlockingError to ``path``, whatever the target does with it afterwards."""
    from blockbuster import BlockingError

    original = BlockingError.__init__

    def init(self: BlockingError, func: str) -> None:
        frames = [
            f"{f.filename}:{f.lineno} {f.name}"
            for f in traceback.extract_stack()[:-1]
            if "/blockbuster/" not in f.filename
        ]
        with path.open("a") as out:
            out.write(json.dumps({"call": func, "stack": frames[-6:]}) + "\n")
        original(self, func)

    BlockingError.__init__ = init  # type: ignore[method-assign]


async def _serve(args: argparse.Namespace) -> None:
    import uvicorn
    from blockbuster import BlockBuster

    out = Path(args.out)
    _record_blocking(out / BLOCKING)
    _record_spans()
    app = _load(args.factory)()
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False,
        lifespan="on", loop="asyncio", http="h11", timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the app refused to start: its error, on stderr
            raise SystemExit(3)
        await asyncio.sleep(0.02)
    detector = BlockBuster(scanned_modules=[args.package])
    for function, (filename, names) in FRAMEWORK_ALLOWED.items():
        if function in detector.functions:
            detector.functions[function].can_block_in(filename, names)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, detector.activate)
    loop.add_signal_handler(signal.SIGUSR2, detector.deactivate)
    loop.add_signal_handler(signal.SIGHUP, _dump_spans, out)
    loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
    facts = {"pid": os.getpid(), **_heap_facts()}
    tmp = out / (FACTS + ".tmp")
    tmp.write_text(json.dumps(facts, default=str))
    tmp.replace(out / FACTS)  # the parent polls for it: written whole or not at all
    await task


def _serve_tls(args: argparse.Namespace) -> None:
    """A fake (``--factory doubles.fakes.llm:create_app``) over HTTPS with the given certificate."""
    import uvicorn

    uvicorn.run(
        _load(args.factory)(), host=args.host, port=args.port, log_level="warning",
        access_log=False, ssl_certfile=args.certfile, ssl_keyfile=args.keyfile,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.evidence.serve")
    parser.add_argument("--factory", required=True)
    parser.add_argument("--package")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--out")
    parser.add_argument("--certfile", help="serve a fake over HTTPS (no probe facts)")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)
    if args.certfile:
        _serve_tls(args)
        return 0
    if not args.package or not args.out:
        parser.error("--package and --out are needed to serve a target")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
