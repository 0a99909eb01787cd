"""Every document a comment, docstring or page points to is in the repository: each
``docs/<page>.md`` exists, and each ``docs/<page>.md §n`` names a section that page has
(``## n. ...``). The product spec and handbook the project started from are not in the
repository, so no comment may send a reader there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SCANNED = (
    "doubles", "testbed", "chaos", "loadtests", "harness", "contracts", "legacy",
    "refactored", "benchmarks", "migrations", "tests", "docs",
)  # fmt: skip
TOP_FILES = ("README.md", "pyproject.toml", "resilience-checklist.toml", "Makefile")
REFERENCE = re.compile(r"docs/([a-z_]+)\.md(?: §(\d+)(?:-§(\d+))?)?")
OUTSIDE = re.compile(r"DESIGN §|DESIGN section|\bhandbook\b|(?<!docs/)conventions(?:\.md)? §")


def sources() -> list[Path]:
    files = [REPO / name for name in TOP_FILES if (REPO / name).exists()]
    for folder in SCANNED:
        files += [
            p
            for p in (REPO / folder).rglob("*")
            if p.suffix in {".py", ".md", ".toml"} and "__pycache__" not in p.parts
        ]
    return [p for p in files if p != Path(__file__).resolve()]


def sections(page: Path) -> set[int]:
    return {int(n) for n in re.findall(r"^## (\d+)\.", page.read_text(), re.M)}


def test_every_document_reference_resolves() -> None:
    broken = []
    for path in sources():
        for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for page, first, last in REFERENCE.findall(line):
                doc = REPO / "docs" / f"{page}.md"
                where = f"{path.relative_to(REPO)}:{line_no}"
                if not doc.exists():
                    broken.append(f"{where}: docs/{page}.md does not exist")
                    continue
                wanted = {int(n) for n in (first, last) if n}
                missing = wanted - sections(doc)
                if missing:
                    broken.append(f"{where}: docs/{page}.md has no section {sorted(missing)}")
    assert not broken, "\n".join(broken)


def test_no_comment_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line_no}: {line.strip()}"
        for path in sources()
        if path.suffix in {".py", ".toml"}
        for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
