"""Run a target's code in a child process and print what the config checks need, as JSON.

``python -m harness.evidence.probe settings module:Class`` prints the settings the
target builds from the environment; ``... app module:factory`` calls the app factory
and prints whether it accepted the environment. A child process keeps the target's
imports, module-level clients and environment out of the gate's own process.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def _load(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _settings(ref: str) -> dict[str, Any]:
    settings = _load(ref)()
    if hasattr(settings, "model_dump"):
        return dict(settings.model_dump(mode="json"))
    return {k: v for k, v in vars(settings).items() if not k.startswith("_")}


def _app(ref: str) -> dict[str, Any]:
    try:
        _load(ref)()
    except Exception as exc:  # any refusal counts: that is what the check looks for
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"settings", "app"}:
        print("usage: python -m harness.evidence.probe settings|app module:attr", file=sys.stderr)
        return 2
    what, ref = argv
    result = _settings(ref) if what == "settings" else _app(ref)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
