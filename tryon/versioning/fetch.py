"""Resolve a DVC-tracked dataset at a git revision and copy it into a local folder.

Used where a run must record exactly which data version it trained on: a Kubeflow pipeline given a
dataset URI naming a repository and a revision, or a data team comparing two versions side by side.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@contextmanager
def _open_revision(repo: str, rev: str) -> Iterator[tuple[Any, str]]:
    """DVC's file system of `repo` at `rev` and the commit `rev` names; FileNotFoundError if none."""
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException

    fs = DVCFileSystem(repo, rev=rev)
    try:
        try:
            commit = fs.repo.get_rev()  # opens the repository: a bad URL or revision fails here
        except DvcException as error:
            raise FileNotFoundError(f"{repo}: cannot open revision {rev!r} ({error})") from error
        yield fs, commit
    finally:
        fs.close()


def resolve_revision(*, repo: str, rev: str) -> str:
    """The full commit hash that `rev` (a commit, branch or tag) names in git repository `repo`."""
    with _open_revision(repo, rev) as (_, commit):
        return commit


def fetch_dataset(*, repo: str, rev: str, path: str, dest: Path) -> Path:
    """Copy the DVC-tracked folder or file `path` of git repository `repo` at revision `rev` to `dest`.

    `repo` is a local path or a git URL; `rev` a commit, branch or tag. The content comes from the
    repository's DVC cache where it has it, otherwise from its default remote (credentials for an S3
    remote come from the environment, as for `dvc pull`). `dest` must not exist or be an empty
    folder; it is filled atomically: on any error it is left as it was. Returns `dest`; the commit
    that `rev` resolved to is logged (`resolve_revision` returns it).

    Raises FileExistsError for a non-empty `dest`, FileNotFoundError when `rev` does not exist or
    `path` is not tracked there, and RuntimeError when the data is in no cache or remote.
    """
    from dvc.exceptions import DvcException
    from dvc_data.index.index import DataIndexError

    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest}: already exists and is not an empty folder; choose a new destination")
    with _open_revision(repo, rev) as (fs, commit):
        where = f"{path!r} at {repo}@{rev} (commit {commit})"
        if not fs.exists(path):
            raise FileNotFoundError(
                f"{where}: no such file or folder; is it tracked by a .dvc file at that revision?"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Staged beside the destination, on the same file system, so that moving it into place is atomic.
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-fetch-") as scratch:
            staged = Path(scratch) / "dataset"
            try:
                if fs.isdir(path):
                    fs.get(path, str(staged), recursive=True)
                else:
                    fs.get_file(path, str(staged))
            except (DvcException, DataIndexError, OSError) as error:
                raise RuntimeError(
                    f"{where}: could not read the data ({error}); push it from a machine that has it "
                    "(`dvc push`) or check the remote's address and credentials"
                ) from error
            if dest.exists():
                dest.rmdir()
            staged.rename(dest)
    logger.info("fetched %s to %s", where, dest)
    return dest
