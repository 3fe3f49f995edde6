"""fetch_dataset: a DVC-tracked dataset at a git revision, read from the cache or the remote."""

from __future__ import annotations

import shutil

import pytest

from tests.unit.test_dvc_repo import make_repo, read_tree, write_files
from tryon.versioning import fetch_dataset, resolve_revision
from tryon.versioning.commands import run_dvc, run_git

FIRST = {"train_img/a.jpg": b"\xff\xd8first", "train_pairs.txt": b"a.jpg a.jpg\n"}
SECOND = {
    "train_img/a.jpg": b"\xff\xd8second",
    "train_img/b.jpg": b"\xff\xd8new",
    "train_pairs.txt": b"a.jpg b.jpg\n",
}


@pytest.fixture(scope="module")
def versioned(tmp_path_factory):
    """A repository whose `data` has two versions, tagged v1 and v2, both pushed; its cache removed."""
    base = tmp_path_factory.mktemp("fetch")
    repo = make_repo(base / "repo", remote=base / "remote")
    for tag, files in (("v1", FIRST), ("v2", SECOND)):
        shutil.rmtree(repo / "data", ignore_errors=True)
        write_files(repo / "data", files)
        run_dvc("add", "-q", "data", repo=repo)
        run_git("add", "data.dvc", ".gitignore", repo=repo)
        run_git("commit", "-q", "-m", f"data {tag}", repo=repo)
        run_git("tag", tag, repo=repo)
        run_dvc("push", "-q", repo=repo)
    shutil.rmtree(repo / ".dvc" / "cache")  # every read below must come from the remote
    return repo


@pytest.mark.parametrize(("rev", "files"), [("v1", FIRST), ("v2", SECOND)])
def test_fetches_each_version_from_the_remote(versioned, tmp_path, rev, files):
    dest = fetch_dataset(repo=str(versioned), rev=rev, path="data", dest=tmp_path / "out")
    assert dest == tmp_path / "out"
    assert read_tree(dest) == files


def test_fetches_a_single_file(versioned, tmp_path):
    dest = fetch_dataset(
        repo=str(versioned), rev="v1", path="data/train_pairs.txt", dest=tmp_path / "pairs.txt"
    )
    assert dest.read_bytes() == FIRST["train_pairs.txt"]


def test_refuses_a_non_empty_destination(versioned, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        fetch_dataset(repo=str(versioned), rev="v1", path="data", dest=tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_untracked_path_and_unknown_revision_are_errors(versioned, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        fetch_dataset(repo=str(versioned), rev="v1", path="nothing", dest=tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="cannot open revision 'v9'"):
        fetch_dataset(repo=str(versioned), rev="v9", path="data", dest=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_missing_remote_data_is_an_error_and_leaves_nothing(tmp_path):
    repo = make_repo(tmp_path / "repo", remote=tmp_path / "empty-remote")
    write_files(repo / "data", FIRST)
    run_dvc("add", "-q", "data", repo=repo)
    run_git("add", "data.dvc", ".gitignore", repo=repo)
    run_git("commit", "-q", "-m", "data", repo=repo)
    shutil.rmtree(repo / ".dvc" / "cache")
    with pytest.raises(RuntimeError, match="could not read the data"):
        fetch_dataset(repo=str(repo), rev="main", path="data", dest=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".out-fetch-")]


def test_resolve_revision_names_the_tagged_commit(versioned):
    assert (
        resolve_revision(repo=str(versioned), rev="v1") == run_git("rev-parse", "v1", repo=versioned).strip()
    )
