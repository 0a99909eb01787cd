"""The one Markdown table writer: what a reader sees (rendered by a CommonMark parser with
GFM tables) is each cell exactly as given, whatever pipes, newlines and backticks it holds."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from harness.markdown import Markdown, code, table

pytestmark = pytest.mark.unit


def rendered_cells(lines: list[str]) -> list[list[str]]:
    """Each row's cells as the HTML a renderer gives them (header row first)."""
    page = MarkdownIt("commonmark").enable("table").render("\n".join(lines))
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.S) for row in rows]


def test_a_pipe_stays_inside_its_cell() -> None:
    lines = table(["a|b", "c"], [["x | y", "z"]])
    assert lines[0] == "| a\\|b | c |"
    assert rendered_cells(lines) == [["a|b", "c"], ["x | y", "z"]]


def test_a_newline_stays_inside_its_row() -> None:
    lines = table(["note", "n"], [["first\nsecond\r\nthird", "1"]])
    assert len(lines) == 3
    assert rendered_cells(lines)[1] == ["first<br>second<br>third", "1"]


def test_backticks_and_backslashes_in_plain_text_are_shown_not_interpreted() -> None:
    lines = table(["text"], [["`no_504` is not code"], ["a \\| b"], ["C:\\dir\\"]])
    assert rendered_cells(lines)[1:] == [["`no_504` is not code"], ["a \\| b"], ["C:\\dir\\"]]


def test_markdown_cells_keep_their_markup_and_code_spans_hold_anything() -> None:
    lines = table(
        ["expectation", "back"],
        [[Markdown(f"{code('no_504')} 504s"), Markdown("**p99**")], [code("a|`b`"), "-"]],
    )
    assert rendered_cells(lines)[1:] == [
        ["<code>no_504</code> 504s", "<strong>p99</strong>"],
        ["<code>a|`b`</code>", "-"],
    ]


def test_every_row_has_the_header_s_cell_count() -> None:
    lines = table(["a", "b", "c"], [["1", "2", "3"]])
    assert lines[1] == "| --- | --- | --- |"
    assert all(line.count(" | ") == 2 for line in lines)
