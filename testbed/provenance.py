"""Which source tree a run measured: a hash of the files, committed or not.

Every run (chaos, load, contracts, fuzz) records :func:`provenance` in its results; the
gate recomputes :func:`source_tree_hash` and treats a run of any other tree, or one that
recorded none, as stale. The hash covers every file git would see: tracked files as they
are on disk (uncommitted edits included) and untracked ones, minus what ``.gitignore``
excludes (``reports/``, ``.venv``, ``.stack``, caches). In a git checkout it is the tree
id ``git add -A`` + ``git write-tree`` give in a throw-away index (``GIT_INDEX_FILE``),
so the real index is never touched; elsewhere it is a SHA-256 over the walked files
with the same exclusions spelled out in :data:`WALK_EXCLUDED`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# without git: directories never hashed (what .gitignore excludes in this repository)
WALK_EXCLUDED = frozenset(
    {".git", "reports", ".venv", ".stack", "__pycache__", ".pytest_cache", ".ruff_cache",
     ".mypy_cache", ".hypothesis", ".import_linter_cache", "build", "dist", "node_modules"}
)  # fmt: skip
WALK_EXCLUDED_SUFFIXES = (".pyc", ".egg-info")


class ProvenanceError(RuntimeError):
    """The source tree could not be hashed (unreadable files, git failing)."""


@dataclass(frozen=True)
class Provenance:
    """What a run ran on. ``source_tree`` decides freshness; the commit is for people."""

    source_tree: str  # "git-tree:<sha1>" or "sha256:<hex>"
    git_commit: str | None = None
    git_dirty: bool | None = None  # uncommitted or untracked (not ignored) files

    def to_facts(self) -> dict[str, Any]:
        """The keys a run's ``environment`` (or a contract summary) carries."""
        return {
            "source_tree": self.source_tree,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
        }


def provenance(root: Path | None = None) -> Provenance:
    """The tree under ``root`` (default: the working directory) as it is now."""
    root = root or Path.cwd()
    commit = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain") if commit is not None else None
    dirty = None if status is None else bool(status)
    return Provenance(source_tree_hash(root), commit, dirty)


def source_tree_hash(root: Path) -> str:
    """A hash of every non-ignored file under ``root``, committed or not."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is not None:
        return "git-tree:" + _git_tree(Path(top))
    return "sha256:" + _walk_hash(root)


def stale_tree_reason(recorded: Mapping[str, Any], current: str | None, what: str) -> str | None:
    """Why a run's recorded tree proves nothing about ``current`` (None: it is the same).

    ``what`` names the run in the message, e.g. ``"run 20261122-210501-chaos"``.
    """
    tree = recorded.get("source_tree")
    if not tree:
        return f"{what} recorded no source tree hash (made by an older harness)"
    if current is None:
        return f"{what} cannot be matched: the source tree here could not be hashed"
    if tree != current:
        return (
            f"{what} measured source tree {_short(str(tree))}, the tree here is "
            f"{_short(current)} (files changed since, committed or not)"
        )
    return None


def _short(tree: str) -> str:
    kind, _, digest = tree.partition(":")
    return f"{kind}:{digest[:12]}" if digest else tree[:12]


def _git(root: Path, *args: str, env: Mapping[str, str] | None = None) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=False,
            env=None if env is None else {**os.environ, **env},
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_tree(top: Path) -> str:
    """``git add -A`` into a copy of the index (its stat cache keeps this fast), then
    ``git write-tree``: the tree id of the working tree, never touching the real index."""
    with tempfile.TemporaryDirectory(prefix="tree-hash-") as tmp:
        index = Path(tmp) / "index"
        real = _git(top, "rev-parse", "--git-path", "index")
        if real is not None and (top / real).is_file():
            # copy2 keeps the index's mtime: git trusts a cached stat only for files older
            # than the index ("racy git"), so a same-size edit made in the index's second
            # is re-read. A fresh mtime on the copy would make git skip that edit.
            shutil.copy2(top / real, index)
        env = {"GIT_INDEX_FILE": str(index)}
        if _git(top, "add", "-A", env=env) is None:
            raise ProvenanceError(f"git add -A failed in {top}: cannot hash the source tree")
        tree = _git(top, "write-tree", env=env)
    if not tree:
        raise ProvenanceError(f"git write-tree failed in {top}: cannot hash the source tree")
    return tree


def _walk_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProvenanceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in WALK_EXCLUDED and not d.endswith(WALK_EXCLUDED_SUFFIXES)
        )
        for name in sorted(filenames):
            if not name.endswith(WALK_EXCLUDED_SUFFIXES):
                yield Path(dirpath) / name
