"""``python -m doubles.fakes.<kind> --host 127.0.0.1 --port PORT``: one uvicorn process."""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import FastAPI


def main(kind: str, create_app: Callable[[], FastAPI], argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m doubles.fakes.{kind}",
        description=f"Run the fake {kind} (see docs/fakes.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    args = parser.parse_args(argv)
    # uvloop + httptools keep the request path cheap (the fake must not be the bottleneck)
    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level=args.log_level,
        loop="uvloop" if fast else "auto",
        http="httptools" if fast else "auto",
        backlog=2048,
        timeout_keep_alive=30,
    )
