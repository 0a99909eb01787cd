"""Gunicorn's own log lines (master and workers) as scrubbed JSON: ``--logger-class`` target.

``gunicorn 'refactored.main:create_app()' --logger-class
refactored.infrastructure.observability.gunicorn_logging.JsonGunicornLogger``: the
master's lines ("Booting worker", "WORKER TIMEOUT", a worker's failed boot with its
traceback) and the access log go through :class:`JsonFormatter`. The master has no
Settings (a bad one must still be logged), so the secrets to mask are read from the
environment. In each worker ``create_app`` then re-formats these handlers with the
validated settings' secrets (``configure_logging``).
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

from refactored.infrastructure.observability.logging import (
    SECRET_VARIABLES,
    JsonFormatter,
    format_server_logs,
)


class JsonGunicornLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        secrets = [os.environ[name] for name in SECRET_VARIABLES if os.environ.get(name)]
        format_server_logs(JsonFormatter(secrets))
