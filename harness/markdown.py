"""The one Markdown table writer of the harness's reports (run reports, compare, ablation,
fuzz): GitHub-flavoured tables, every cell escaped the same way.

A plain cell is text: ``|`` would end the cell and a newline the row, so they become ``\\|``
and ``<br>``; a backtick would open a code span, so it becomes ``\\```. A cell already
written in Markdown (a code span, emphasis) is a :class:`Markdown` and keeps its markup;
only ``|`` and newlines are escaped in it (GFM needs ``\\|`` even inside a code span).
No library writes GFM tables with this escaping (tabulate's "github" format escapes
nothing), hence these few lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


class Markdown(str):
    """Text already in Markdown: the table writer keeps its markup."""

    __slots__ = ()


def code(text: str) -> Markdown:
    """``text`` as a code span, fenced by more backticks than any run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return Markdown(f"{fence}{padded}{fence}")


def plain(value: object) -> Markdown:
    """Plain text as Markdown: its backslashes and backticks escaped (kept as written)."""
    if isinstance(value, Markdown):
        return value
    return Markdown(str(value).replace("\\", "\\\\").replace("`", "\\`"))


def cell(value: object) -> str:
    """One table cell: ``|`` and newlines escaped always, backticks unless it is Markdown."""
    text = plain(value).replace("|", "\\|")
    return re.sub(r"\r\n|\r|\n", "<br>", text)


def table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """The table's lines: header, separator, one line per row."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + " --- |" * len(header))
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines
