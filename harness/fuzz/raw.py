"""Raw JSON: bodies Python's ``json`` cannot write (lone surrogates, 1e400, NaN in place).

``raw_json(obj, {("limit",): "1e400"})`` writes ``obj`` as JSON with the value at each
path replaced by the given literal text, byte for byte. A lone surrogate is written as
the six characters ``\\ud800``: the escape a hostile client sends (Python can hold the
code point in a ``str`` but cannot encode it to UTF-8 bytes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Path = tuple[str | int, ...]
LONE_HIGH = "\\ud800"  # a high surrogate with no low one after it (JSON escape text)
LONE_LOW = "\\udfff"  # a low surrogate with no high one before it
NUL = "\\u0000"
_MARK = "@@fuzz-raw-{}@@"


def _put(obj: Any, path: Path, value: Any) -> Any:
    """A copy of ``obj`` with ``value`` at ``path`` (lists and dicts copied on the way)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, list) and isinstance(head, int):
        items = list(obj)
        items[head] = _put(items[head], rest, value)
        return items
    if isinstance(obj, dict) and isinstance(head, str):
        return {**obj, head: _put(obj.get(head), rest, value)}
    raise KeyError(f"cannot follow {path!r} into {type(obj).__name__}")


def drop(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def raw_json(obj: Any, raw: Mapping[Path, str] | None = None) -> bytes:
    """``obj`` as compact JSON bytes, with each ``raw`` path's value replaced by literal text."""
    marked = obj
    for n, path in enumerate(raw or {}):
        marked = _put(marked, path, _MARK.format(n))
    text = json.dumps(marked, separators=(",", ":"))
    for n, literal in enumerate((raw or {}).values()):
        text = text.replace(json.dumps(_MARK.format(n)), literal, 1)
    return text.encode("utf-8")


def json_string(inner: str) -> str:
    """A JSON string literal around ``inner``, which is already JSON-escaped text."""
    return f'"{inner}"'


def deep_list(depth: int) -> bytes:
    """``[[[...]]]`` nested ``depth`` times: a parser that recurses runs out of stack."""
    return b"[" * depth + b"]" * depth


def deep_object(depth: int, key: str = "a") -> str:
    """``{"a":{"a":...{}}}`` nested ``depth`` times, as JSON text."""
    return f'{{"{key}":' * depth + "{}" + "}" * depth
