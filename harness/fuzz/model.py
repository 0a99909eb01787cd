"""What the fuzz sends and what it saw: one request type for both sources, one outcome type.

A request is kept as raw bytes (body) and a raw, already percent-encoded path, so a
hostile input (a lone surrogate written as a JSON escape, a NUL, 1e400) reaches the
target exactly as written and can be shown in the report without re-encoding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["schemathesis", "battery"]
SOURCES: tuple[Source, ...] = ("schemathesis", "battery")
DEFAULT_EXAMPLES = 50  # Schemathesis cases per operation and generation mode
DEFAULT_MAX_SECONDS = 300.0  # the sending budget per target
BODY_REPR_CHARS = 240
PATH_REPR_CHARS = 160


@dataclass(frozen=True)
class FuzzRequest:
    """One request: ``path`` is percent-encoded as sent, ``body`` the exact bytes (or None)."""

    source: Source
    name: str  # battery: what it tries (e.g. "limit=NaN"); schemathesis: operation + mode
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """The answer to one request: a status, or ``error`` when no answer came.

    ``sent`` is False when the HTTP client refused to put the request on the wire (an
    illegal header value): the target never saw it, so it is neither answered nor not.
    """

    request: FuzzRequest
    status: int | None
    error: str | None = None
    elapsed_ms: float = 0.0
    local_address: str = ""
    sent: bool = True


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def safe_body(body: bytes | None, limit: int = BODY_REPR_CHARS) -> str | None:
    """A printable, bounded view of a body: non-ASCII and control bytes escaped, length kept."""
    if body is None:
        return None
    shown = body[:limit].decode("ascii", "backslashreplace")
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return shown if len(body) <= limit else f"{shown}... ({len(body)} bytes)"


def describe(request: FuzzRequest) -> dict[str, object]:
    """The request as fuzz.json shows it (method, path, a safe repr of the body, truncated)."""
    shown: dict[str, object] = {
        "source": request.source,
        "name": request.name,
        "method": request.method,
        "path": truncate(request.path, PATH_REPR_CHARS),
        "body": safe_body(request.body),
    }
    if request.query:
        shown["query"] = truncate(repr(request.query), PATH_REPR_CHARS)
    if "content-type" in {k.lower() for k in request.headers}:
        shown["content_type"] = next(
            v for k, v in request.headers.items() if k.lower() == "content-type"
        )
    return shown
