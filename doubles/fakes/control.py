"""The control API and the call path every fake shares (docs/conventions.md §8).

``FakeRuntime`` holds the active faults and the counters; ``install_control``
adds ``/_control/*`` and ``/health`` to a fake's app; ``FakeRuntime.serve``
wraps a fake's answer with the faults (latency, hang, error, malformed) and
counts the call by task and by final status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from doubles.fakes.faults import ActiveFaults, ErrorFault, FaultConfig

JSON = "application/json"
# A client that went away before the answer: nginx's code, so stats show it apart from real answers.
CLIENT_CLOSED = 499
# 200 with this body is the "malformed" fault: not JSON at all, so any JSON parser fails.
MALFORMED_BODY = b'{"choices": [{"message": {"content": "this is not json'
_HANG_POLL_S = 0.25
# Bound on the calls remembered as "answered an error with Retry-After, not retried yet".
_MAX_PENDING_RETRIES = 50_000
# Bound on the cut times of hung calls kept in the stats (a scenario holds a few hundred).
_MAX_CUT_TIMES = 5_000

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", "internal_server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json.dumps(payload).encode(), status, headers=headers, media_type=JSON)


def openai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as OpenAI/Groq send it: ``{"error": {"message", "type", "code"}}``."""
    error_type, code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", str(status))
    )
    body = {"error": {"message": message, "type": error_type, "code": code}}
    return json_response(body, status, headers)


def format_retry_after(seconds: float) -> str:
    """Whole seconds as an integer ("1"), else a decimal ("0.1") for time-scaled runs."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def fault_error_response(fault: ErrorFault) -> Response:
    headers = None
    if fault.status in (429, 503):
        headers = {"Retry-After": format_retry_after(fault.retry_after_s)}
    if fault.status == 429:
        message = "Rate limit reached (injected by the fake's control API). Please retry later."
    else:
        message = f"Injected error {fault.status} (fake's control API)."
    return openai_error(fault.status, message, headers)


@dataclass
class RetryWaits:
    """How long clients waited before retrying a call answered with ``Retry-After``.

    A retry is the same request body sent again (the services resend the identical call);
    its wait is measured from the error answer to the new call, as a fraction of the
    ``Retry-After`` sent. 1.0 or more: the header was honoured; legacy's fixed 0.2 s loop
    against ``Retry-After: 1`` gives 0.2.
    """

    pending: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (t, after)
    ratios: list[float] = field(default_factory=list)

    def on_call(self, key: str) -> None:
        seen = self.pending.pop(key, None)
        if seen is not None:
            answered_at, retry_after_s = seen
            self.ratios.append((time.monotonic() - answered_at) / retry_after_s)

    def on_error(self, key: str, retry_after_s: float) -> None:
        if retry_after_s > 0 and len(self.pending) < _MAX_PENDING_RETRIES:
            self.pending[key] = (time.monotonic(), retry_after_s)

    def as_json(self) -> dict[str, Any]:
        ratios = self.ratios
        return {
            "count": len(ratios),
            "median_wait_over_retry_after": round(statistics.median(ratios), 3) if ratios else None,
            "min_wait_over_retry_after": round(min(ratios), 3) if ratios else None,
        }


@dataclass
class _Span:
    """The held calls of one conversation (its analysis calls all carry its messages)."""

    first_held: float
    last_end: float = 0.0
    holding: int = 0
    released: bool = False


@dataclass
class Hangs:
    """Calls the ``hang`` fault held, and how long each was held before its caller cut it.

    A caller with a timeout disconnects (the call is *cut*, answered 499 here); one without
    waits until the faults change (*released*). Calls are also grouped by conversation
    (the messages they carry): a span runs from its first held call to its last one's end,
    so sequential calls that are each cut in time but add up past the load balancer show.
    The chaos scenarios read these to see, from outside the service, whether the
    dependency calls were given up before the load balancer gave up on the request.
    """

    held: int = 0
    cut_after_s: list[float] = field(default_factory=list)
    released_after_s: list[float] = field(default_factory=list)
    spans: dict[str, _Span] = field(default_factory=dict)

    def on_hold(self, conversation: str | None) -> None:
        self.held += 1
        if conversation is not None and (
            conversation in self.spans or len(self.spans) < _MAX_CUT_TIMES
        ):
            span = self.spans.setdefault(conversation, _Span(time.monotonic()))
            span.holding += 1

    def on_end(self, held_s: float, cut: bool, conversation: str | None = None) -> None:
        times = self.cut_after_s if cut else self.released_after_s
        if len(times) < _MAX_CUT_TIMES:
            times.append(held_s)
        span = self.spans.get(conversation) if conversation is not None else None
        if span is not None:
            span.holding -= 1
            span.last_end = time.monotonic()
            span.released = span.released or not cut

    def as_json(self) -> dict[str, Any]:
        cut = self.cut_after_s
        return {
            "held": self.held,
            "released": len(self.released_after_s),
            "cut": len(cut),
            "cut_after_s": [round(s, 3) for s in cut],
            "released_after_s": [round(s, 3) for s in self.released_after_s],
            "cut_after_s_max": round(max(cut), 3) if cut else None,
            # conversations none of whose calls is still held
            "conversations": [
                {"span_s": round(s.last_end - s.first_held, 3), "released": s.released}
                for s in self.spans.values()
                if s.holding == 0
            ],
        }


@dataclass
class Stats:
    calls_total: int = 0
    calls_by_task: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    retry_waits: RetryWaits = field(default_factory=RetryWaits)
    hangs: Hangs = field(default_factory=Hangs)

    def as_json(self) -> dict[str, Any]:
        return {
            "calls_total": self.calls_total,
            "calls_by_task": dict(self.calls_by_task),
            "responses_by_status": dict(self.responses_by_status),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "retries_after_error": self.retry_waits.as_json(),
            "hangs": self.hangs.as_json(),
        }


def conversation_key(body: bytes | None) -> str | None:
    """The conversation an LLM call is about: its last message's content (the JSON list
    of the conversation's messages), the same for every analysis task. None: no body, or
    not a chat completion."""
    if not body:
        return None
    try:
        messages = json.loads(body).get("messages") or []
        content = str(messages[-1].get("content"))
    except (ValueError, AttributeError, IndexError, TypeError):
        return None
    return hashlib.blake2b(content.encode(), digest_size=16).hexdigest()


def call_key(task: str | None, body: bytes) -> str:
    """Identifies a call across its retries: the task and the exact request body."""
    return hashlib.blake2b(body, key=(task or "").encode()[:64], digest_size=16).hexdigest()


class FakeRuntime:
    """Faults and counters of one fake; ``on_reset`` clears the fake's own data."""

    def __init__(
        self, kind: str, *, has_tasks: bool = False, on_reset: Callable[[], None] | None = None
    ) -> None:
        self.kind = kind
        self.has_tasks = has_tasks
        self.on_reset = on_reset
        self.active = ActiveFaults()
        self.stats = Stats()

    def set_faults(self, config: FaultConfig) -> None:
        self.active.released.set()  # requests hung by the previous config answer normally now
        self.active = ActiveFaults.from_config(config)

    def clear_faults(self) -> None:
        self.set_faults(FaultConfig())

    def reset(self) -> None:
        self.clear_faults()
        # in_flight keeps counting requests still running (e.g. just released from a hang)
        in_flight = self.stats.in_flight
        self.stats = Stats(in_flight=in_flight, max_in_flight=in_flight)
        if self.on_reset is not None:
            self.on_reset()

    async def serve(
        self,
        request: Request,
        task: str | None,
        answer: Callable[[], Awaitable[Response]],
        body: bytes | None = None,
    ) -> Response:
        """Count the call, apply the active faults, else ``answer()``.

        ``body`` (the raw request) lets the stats measure how long clients wait before
        retrying an error that carried ``Retry-After``.
        """
        stats = self.stats
        stats.calls_total += 1
        if task is not None:
            stats.calls_by_task[task] += 1
        key = None
        # hashed only while some error awaits its retry: the fake's hot path stays cheap
        if body is not None and stats.retry_waits.pending:
            key = call_key(task, body)
            stats.retry_waits.on_call(key)
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        status = CLIENT_CLOSED  # unless an answer is produced (cancelled on disconnect)
        try:
            response = await self._answer(request, task, answer, body)
            status = response.status_code
            retry_after = response.headers.get("retry-after")
            if body is not None and retry_after is not None and status >= 400:
                stats.retry_waits.on_error(key or call_key(task, body), float(retry_after))
            return response
        finally:
            # counted on the Stats the call started with, so a reset mid-call stays clean
            stats.in_flight -= 1
            if stats is self.stats:
                stats.responses_by_status[str(status)] += 1
            else:
                self.stats.in_flight = max(0, self.stats.in_flight - 1)

    async def _answer(
        self,
        request: Request,
        task: str | None,
        answer: Callable[[], Awaitable[Response]],
        body: bytes | None = None,
    ) -> Response:
        decision = self.active.decide(task)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.hang is not None:
            hangs = self.stats.hangs
            conversation = conversation_key(body)
            hangs.on_hold(conversation)
            held_at = time.monotonic()
            cut = await _hang_until_released(decision.hang, request)
            hangs.on_end(time.monotonic() - held_at, cut, conversation)
            if cut:
                return Response(status_code=CLIENT_CLOSED)
            return await answer()  # the faults were changed: answer as a healthy server
        if decision.error is not None:
            return fault_error_response(decision.error)
        if decision.malformed:
            return Response(MALFORMED_BODY, 200, media_type=JSON)
        return await answer()


async def _hang_until_released(released: asyncio.Event, request: Request) -> bool:
    """Wait until the faults change; True when the client disconnected first."""
    while not released.is_set():
        try:
            await asyncio.wait_for(released.wait(), _HANG_POLL_S)
        except TimeoutError:
            if await request.is_disconnected():
                return True
    return False


def install_control(app: FastAPI, runtime: FakeRuntime) -> None:
    """Add ``/_control/faults|stats|reset`` and ``/health`` to ``app``."""

    @app.get("/health")
    async def health() -> Response:
        return json_response({"status": "ok", "fake": runtime.kind})

    @app.get("/_control/faults")
    async def get_faults() -> Response:
        return json_response(runtime.active.config.model_dump(mode="json"))

    @app.put("/_control/faults")
    async def put_faults(request: Request) -> Response:
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            return json_response({"detail": f"the fault config is not JSON: {exc}"}, 422)
        try:
            config = FaultConfig.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                for error in exc.errors()
            )
            return json_response(
                {
                    "detail": f"invalid fault config: {problems}. See docs/fakes.md (FaultConfig).",
                    "errors": exc.errors(include_url=False, include_context=False),
                },
                422,
            )
        if config.tasks is not None and not runtime.has_tasks:
            return json_response(
                {"detail": f"'tasks' is for the fake LLM only: remove it ({runtime.kind} fake)"},
                422,
            )
        runtime.set_faults(config)
        return json_response(config.model_dump(mode="json"))

    @app.delete("/_control/faults")
    async def delete_faults() -> Response:
        runtime.clear_faults()
        return json_response(runtime.active.config.model_dump(mode="json"))

    @app.get("/_control/stats")
    async def get_stats() -> Response:
        return json_response(runtime.stats.as_json())

    @app.post("/_control/reset")
    async def reset() -> Response:
        runtime.reset()
        return json_response({"status": "reset"})
