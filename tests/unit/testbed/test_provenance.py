"""The source tree hash: every file git would see, committed or not, ignored ones excluded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from testbed.provenance import provenance, source_tree_hash, stale_tree_reason

pytestmark = pytest.mark.unit


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text("x = 1\n")
    (root / ".gitignore").write_text("reports/\n.venv/\n__pycache__/\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    return root


def test_a_clean_checkout_hashes_to_its_commit_s_tree(repo: Path) -> None:
    assert source_tree_hash(repo) == "git-tree:" + _git(repo, "rev-parse", "HEAD^{tree}")
    facts = provenance(repo)
    assert facts.git_commit == _git(repo, "rev-parse", "HEAD") and facts.git_dirty is False


def test_uncommitted_and_untracked_files_change_the_hash_ignored_ones_do_not(
    repo: Path,
) -> None:
    clean = source_tree_hash(repo)
    (repo / "reports").mkdir()
    (repo / "reports" / "results.json").write_text("{}")
    (repo / "pkg" / "__pycache__").mkdir()
    (repo / "pkg" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    assert source_tree_hash(repo) == clean, "ignored files are not source"
    (repo / "pkg" / "new.py").write_text("y = 2\n")  # untracked, not ignored
    untracked = source_tree_hash(repo)
    assert untracked != clean
    assert provenance(repo).git_dirty is True
    (repo / "pkg" / "new.py").unlink()
    (repo / "pkg" / "app.py").write_text("x = 2\n")  # uncommitted edit of a tracked file
    edited = source_tree_hash(repo)
    assert edited not in {clean, untracked}
    (repo / "pkg" / "app.py").write_text("x = 1\n")
    assert source_tree_hash(repo) == clean, "the same files hash the same, whatever happened"


def test_a_same_size_edit_in_the_index_s_own_clock_tick_is_seen(repo: Path) -> None:
    """Racy git: the file system's clock is coarse (a few ms), so ``git status`` refreshing
    the index (as :func:`provenance` does) and the next same-size edit can share one mtime.
    git re-reads a file whose mtime is not older than the index; the hash's copy of the
    index must keep that mtime, or the edit is missed (seen once in CI)."""
    # utime cannot forge a ctime, so git is told not to compare ctimes (as on some mounts)
    _git(repo, "config", "core.trustctime", "false")
    app, index = repo / "pkg" / "app.py", repo / ".git" / "index"
    tick = (app.stat().st_mtime_ns // 10**9 - 10) * 10**9  # one instant, in the past
    os.utime(app, ns=(tick, tick))
    _git(repo, "status", "--porcelain")  # refreshes the index's stat cache: app.py at tick
    os.utime(index, ns=(tick, tick))  # ... and the index written in that same tick
    clean = source_tree_hash(repo)
    app.write_text("x = 2\n")  # same size, same tick
    os.utime(app, ns=(tick, tick))
    assert source_tree_hash(repo) != clean


def test_hashing_never_touches_the_real_index(repo: Path) -> None:
    (repo / "pkg" / "new.py").write_text("y = 2\n")
    before = (repo / ".git" / "index").read_bytes()
    source_tree_hash(repo)
    assert (repo / ".git" / "index").read_bytes() == before
    assert _git(repo, "status", "--porcelain") == "?? pkg/new.py", "nothing staged"


def test_without_git_the_walk_sees_untracked_files_and_skips_the_excluded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "plain"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text("x = 1\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above
    first = source_tree_hash(root)
    assert first.startswith("sha256:")
    for junk in (".venv/lib.py", "reports/r.json", ".stack/stack.json", "pkg/__pycache__/a.pyc"):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("junk")
    assert source_tree_hash(root) == first
    (root / "pkg" / "other.py").write_text("")
    assert source_tree_hash(root) != first


def test_stale_reasons_name_both_trees_or_the_missing_hash() -> None:
    here = "git-tree:" + "a" * 40
    assert stale_tree_reason({"source_tree": here}, here, "run r") is None
    other = stale_tree_reason({"source_tree": "git-tree:" + "b" * 40}, here, "run r")
    assert other is not None and "git-tree:bbbbbbbbbbbb" in other and "git-tree:aaaa" in other
    assert "recorded no source tree hash" in (stale_tree_reason({}, here, "run r") or "")
    assert "could not be hashed" in (stale_tree_reason({"source_tree": here}, None, "r") or "")
