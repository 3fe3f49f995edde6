"""Temporary git + DVC repositories for the versioning tests, and tests of the command wrappers.

`make_repo` builds a repository in a temporary folder with its own cache and a local-directory
remote, so that no test touches the project's own `.dvc/cache` or remote.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tryon.versioning.commands import CommandError, run_dvc, run_git


def make_repo(root: Path, *, remote: Path | None = None) -> Path:
    """A git repository with DVC initialised at `root`, analytics off, `remote` as the default remote.

    The remote's path is written relative to `.dvc/`, as the project's own config does, so that a
    copy of the repository and its remote side by side (`copy_repo`) is a working pair.
    """
    root.mkdir(parents=True, exist_ok=True)
    run_git("init", "-q", "-b", "main", repo=root)
    run_git("config", "user.name", "Test", repo=root)
    run_git("config", "user.email", "test@example.com", repo=root)
    run_dvc("init", "-q", repo=root)
    config = "[core]\n    analytics = false\n"
    if remote is not None:
        url = os.path.relpath(remote, root / ".dvc")
        config += f"    remote = local\n['remote \"local\"']\n    url = {url}\n"
    (root / ".dvc" / "config").write_text(config)
    run_git("add", ".dvc", repo=root)
    run_git("commit", "-q", "-m", "dvc init", repo=root)
    return root


def copy_repo(template: Path, dest: Path) -> Path:
    """Copy a folder holding a repository and its remote side by side (symlinks kept as links)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by its relative path."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_run_dvc_reports_the_failing_command(tmp_path):
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(CommandError, match=r"`.*dvc add missing` in .* failed with exit status"):
        run_dvc("add", "missing", repo=repo)


def test_run_git_returns_output(tmp_path):
    repo = make_repo(tmp_path / "repo")
    assert run_git("log", "--format=%s", repo=repo).strip() == "dvc init"
