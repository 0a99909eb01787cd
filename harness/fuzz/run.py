"""Boot the stack, fuzz each target through its load balancer, write fuzz.json + fuzz.md.

Through the load balancer (default) because that is the path a hostile client takes:
Caddy sees the raw bytes first (a NUL in the path, a 1 MiB body) and a 502/504 it
returns is what the client gets. Caddy forwards each source address (gunicorn trusts
127.0.0.1's X-Forwarded-For), so refactored's per-client rate limit sees every source
address apart. ``via="service"`` fuzzes gunicorn directly (to tell Caddy's part apart).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from rich.console import Console

from harness.fuzz.battery import build_battery
from harness.fuzz.model import DEFAULT_EXAMPLES, DEFAULT_MAX_SECONDS, FuzzRequest
from harness.fuzz.report import TargetFuzz, run_passed, write_fuzz
from harness.fuzz.schema_cases import generate
from harness.fuzz.sender import Sender
from testbed.fakes import FakeControl
from testbed.processes import ProcessGroup
from testbed.results import now_iso
from testbed.run_dirs import new_run_dir
from testbed.run_facts import git_facts
from testbed.stack import start_stack
from testbed.stack_config import StackConfig
from testbed.target import TargetInfo
from testbed.targets import UnknownTargetError, parse_targets

Via = Literal["lb", "service"]
EXPECTED_TO_PASS = ("refactored",)  # legacy is the museum piece: its failures are expected
CARDS_SETTLE_S = 1.0  # cards may be posted after the answer (refactored sends in background)
CARDS_SETTLE_MAX_S = 10.0


class FuzzUsageError(ValueError):
    """Bad input: an unknown target, a non-positive budget."""


@dataclass
class FuzzOptions:
    targets: str = "both"
    examples: int = DEFAULT_EXAMPLES  # per operation and generation mode (positive, negative)
    seed: int = 0
    max_seconds: float = DEFAULT_MAX_SECONDS
    via: Via = "lb"
    sources: int = 32
    time_scale: float = 0.1
    workers: int = 2
    log_dir: Path = Path(".stack/fuzz-logs")
    reports_base: Path | None = None
    command: str = ""

    def selected(self) -> list[str]:
        """The targets to fuzz, in order; :class:`FuzzUsageError` on any bad option."""
        if self.examples < 1 or self.max_seconds <= 0 or self.sources < 1:
            raise FuzzUsageError("examples and sources must be >= 1 and max_seconds > 0")
        if self.via not in ("lb", "service"):
            raise FuzzUsageError(f"via must be lb or service, not {self.via!r}")
        try:
            return list(parse_targets(self.targets))
        except UnknownTargetError as exc:
            raise FuzzUsageError(str(exc)) from None


def run_fuzz(options: FuzzOptions, console: Console) -> tuple[list[TargetFuzz], Path, bool]:
    """Boot the selected targets, fuzz each in turn; returns (results, run dir, passed)."""
    targets = options.selected()
    run_dir = new_run_dir("fuzz", options.reports_base)
    header: dict[str, Any] = {
        "kind": "fuzz",
        "run_id": run_dir.name,
        "created_at": now_iso(),
        "command": options.command,
        "settings": {
            "examples": options.examples, "seed": options.seed, "max_seconds": options.max_seconds,
            "via": options.via, "sources": options.sources, "time_scale": options.time_scale,
            "workers": options.workers,
        },
        **git_facts(),
    }  # fmt: skip
    results: list[TargetFuzz] = []
    try:
        with ProcessGroup(options.log_dir) as group:
            console.print(f"[bold]booting the stack[/] ({', '.join(targets)})")
            config = StackConfig(tuple(targets), options.time_scale, options.workers)
            info = start_stack(group, config)
            for target in targets:
                results.append(fuzz_target(target, info.targets[target], options, console))
    finally:
        header["finished_at"] = now_iso()
        write_fuzz(run_dir, header, results)
    return results, run_dir, run_passed(results)


def fuzz_target(
    target: str, info: TargetInfo, options: FuzzOptions, console: Console
) -> TargetFuzz:
    """Schemathesis cases + the battery against one target, cards counted around them."""
    base = info.lb_url if options.via == "lb" else info.service_url
    timeout = (info.lb_timeout_s if options.via == "lb" else info.app_timeout_s) + 5.0
    result = TargetFuzz(target, base, expected_to_pass=target in EXPECTED_TO_PASS)
    spec, result.openapi = _openapi(base)
    generated = generate(spec, options.examples, options.seed) if spec else None
    if generated is not None:
        result.openapi["operations"] = generated.operations
        result.openapi["not_generated"] = generated.not_generated
    tag = f"{target[0]}{secrets.token_hex(3)}"
    requests: list[FuzzRequest] = build_battery(datetime.now(UTC), tag)
    requests += generated.requests if generated else []
    webhook = FakeControl(info.fakes["webhook"].url)
    try:
        seen = len(webhook.cards())
        console.print(f"{target}: sending {len(requests)} requests to {base}")
        started = time.monotonic()
        sender = Sender(
            base, timeout_s=timeout, admin_token=info.admin_token, sources=options.sources
        )
        with sender:
            for request in requests:
                if time.monotonic() - started > options.max_seconds:
                    result.stopped_early = True
                    break
                result.outcomes.append(sender.send(request))
        result.duration_s = time.monotonic() - started
        result.new_cards = _settled_cards(webhook)[seen:]
    finally:
        webhook.close()
    verdict = "pass" if result.passed else "fail: " + "; ".join(result.reasons())
    console.print(f"{target}: {verdict}")
    return result


def _openapi(base: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The schema the target serves at /openapi.json, and what to record about it."""
    try:
        response = httpx.get(f"{base}/openapi.json", timeout=10.0)
        spec = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return None, {"served": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if not isinstance(spec, dict):
        return None, {"served": False, "status": response.status_code}
    title = (spec.get("info") or {}).get("title")
    return spec, {"served": True, "openapi_version": spec.get("openapi"), "title": title}


def _settled_cards(webhook: FakeControl) -> list[dict[str, Any]]:
    """The webhook's cards once no new one has arrived for CARDS_SETTLE_S."""
    deadline = time.monotonic() + CARDS_SETTLE_MAX_S
    cards = webhook.cards()
    while time.monotonic() < deadline:
        time.sleep(CARDS_SETTLE_S)
        again = webhook.cards()
        if len(again) == len(cards):
            return again
        cards = again
    return cards
