"""Structured JSON logs with the request and conversation ids (never secrets).

Secrets are masked twice: extra fields whose key looks secret, and, on the finished line
(message, exception text, every field value), the configured secret values themselves,
credentials after an HTTP auth scheme or ``Authorization``, and passwords in URLs. The
second pass exists because a secret reaches a log through text nobody reviewed as a
secret: an exception message that echoes a header, a repr of a request, a URL.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
conversation_id_var: ContextVar[str | None] = ContextVar("conversation_id", default=None)

MASK = "***"
# Shorter values are masked only through the patterns below: replacing every occurrence
# of a 2-character "secret" would garble each line and hide nothing worth hiding.
MIN_SECRET_LENGTH = 4
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# The servers' loggers: gunicorn's (error, access) and uvicorn's, which the uvicorn worker
# points at gunicorn's handlers. Their handlers keep their destination, take our format.
SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error", "uvicorn.access")
# The environment variables whose values are secrets (for processes that have no Settings)
SECRET_VARIABLES = ("SECRET_KEY", "ADMIN_TOKEN", "LLM_API_KEY", "MEMORY_API_KEY")
_SECRET_HINTS = ("key", "token", "secret", "password", "authorization")
_CONTEXT_IDS = ("request_id", "conversation_id")
_RESERVED = ("ts", "level", "logger", "message")
_AUTHORIZATION = re.compile(
    r"""(?i)(authorization\\?["']?\s*[:=]\s*\\?["']?)((?:bearer|token|basic)\s+)?[^"'\s,}\\]+"""
)
_SCHEME_CREDENTIAL = re.compile(r"""\b(Bearer|Token)\s+[^"'\s,;}\\]{8,}""")  # our schemes
_URL_PASSWORD = re.compile(r"""(://[^:/@\s"']+:)[^@\s"'/]+@""")


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # as they appear inside a JSON string too (quotes, backslashes, non-ASCII escaped)
        values |= {json.dumps(s)[1:-1] for s in values}
        # longest first, so a secret that contains another one is masked whole
        self._secrets = sorted(values, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _AUTHORIZATION.sub(lambda m: f"{m[1]}{m[2] or ''}{MASK}", text)
        text = _SCHEME_CREDENTIAL.sub(rf"\g<1> {MASK}", text)
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "conversation_id": conversation_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key in _CONTEXT_IDS and value is None:
                continue  # an explicit "none given" must not hide the request's own id
            if key in _RESERVED:
                key = f"extra_{key}"  # the record's own level (etc.) is what log queries filter on
            entry[key] = MASK if any(h in key.lower() for h in _SECRET_HINTS) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.scrub(json.dumps(entry, default=str))


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """JSON lines on stderr for the service; the servers' loggers get the same format."""
    formatter = JsonFormatter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("refactored")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    format_server_logs(formatter)


def format_server_logs(formatter: logging.Formatter) -> None:
    """Every handler of gunicorn's and uvicorn's loggers writes through ``formatter``."""
    for name in SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
