"""The garment-batch workflow: `tryon data add-batch` versions a batch as one pushed commit, and the
previous data version comes back byte for byte from the remote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.test_dvc_repo import make_repo, read_tree
from tryon.config import Resolution, SynthConfig
from tryon.data.synthetic import generate_dataset
from tryon.versioning.commands import run_dvc, run_git
from tryon.versioning.dataset import pin_synthetic

pytestmark = pytest.mark.slow

SIZE = Resolution(64, 48)
PARAMS = "data:\n  resolution: 64x48\n"


def tryon(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tryon.cli", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository with a pinned synthetic set, committed and pushed to its local remote."""
    repo = make_repo(tmp_path / "repo", remote=tmp_path / "remote")
    (repo / "params.yaml").write_text(PARAMS)
    pin_synthetic(repo, synth=SynthConfig(n_train=2, n_test=2, seed=0), resolution=SIZE)
    run_git("add", "data.dvc", "params.yaml", ".gitignore", repo=repo)
    run_git("commit", "-q", "-m", "synthetic data", repo=repo)
    run_dvc("push", "-q", repo=repo)
    return repo


@pytest.fixture
def batch(tmp_path) -> Path:
    """Laydown garment photos with names the dataset does not have yet (another seed's garments)."""
    source = tmp_path / "synth"
    generate_dataset(source, n_train=2, n_test=2, resolution=Resolution(128, 96), seed=5, workers=1)
    photos = tmp_path / "2026-12-tops"
    photos.mkdir()
    for index, path in enumerate(sorted((source / "train_color").glob("*.jpg"))):
        shutil.copy(path, photos / f"top-{index}.jpg")
    return photos


def test_add_batch_commits_pushes_and_previous_versions_come_back(repo, batch):
    before = read_tree(repo / "data")
    done = tryon("data", "add-batch", str(batch), "--name", "2026-12-tops", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "batch 2026-12-tops: 2 garments" in done.stdout and "pushed" in done.stdout
    after = read_tree(repo / "data")
    assert set(after) - set(before) == {
        f"train_{kind}/top-{index}.jpg" for kind in ("color", "edge") for index in range(2)
    }
    assert {name: after[name] for name in before} == before  # a batch only adds
    assert (
        run_git("log", "-1", "--format=%s", repo=repo).strip()
        == "data: garment batch 2026-12-tops (2 garments, train)"
    )
    assert run_git("show", "--name-only", "--format=", "HEAD", repo=repo).split() == ["data.dvc"]
    meta = yaml.safe_load((repo / "data.dvc").read_text())["meta"]
    assert [batch["name"] for batch in meta["batches"]] == ["2026-12-tops"] and meta["synth"]["seed"] == 0

    # Both versions from the remote alone: an empty cache, then the previous commit and back.
    shutil.rmtree(repo / ".dvc" / "cache")
    for rev, expected in (("HEAD~1", before), ("main", after)):
        run_git("checkout", "-q", rev, repo=repo)
        run_dvc("pull", "-q", "--force", repo=repo)
        assert read_tree(repo / "data") == expected, rev


def test_refused_batches_version_nothing(repo, batch, tmp_path):
    head = run_git("rev-parse", "HEAD", repo=repo)
    (batch / "notes.txt").write_text("not a photo")
    done = tryon("data", "add-batch", str(batch), "--name", "2026-12-tops", "--no-push", cwd=repo)
    assert done.returncode == 1
    assert "notes.txt" in done.stderr and "dvc checkout --force data.dvc" in done.stderr
    assert "Traceback" not in done.stderr
    assert run_git("rev-parse", "HEAD", repo=repo) == head

    (batch / "notes.txt").unlink()
    run_dvc("checkout", "-q", "--force", "data.dvc", repo=repo)
    clash = tmp_path / "clash"
    clash.mkdir()
    shutil.copy(repo / "data" / "train_color" / "000001_1.jpg", clash / "000001_1.jpg")
    done = tryon("data", "add-batch", str(clash), "--name", "clash", cwd=repo)
    assert done.returncode == 1 and "000001_1.jpg would replace garments" in done.stderr
    done = tryon("data", "add-batch", str(batch), "--name", "bad name", cwd=repo)
    assert done.returncode == 1 and "batch name 'bad name'" in done.stderr
    assert run_git("rev-parse", "HEAD", repo=repo) == head


def test_a_failed_push_keeps_the_commit_and_says_how_to_push_later(repo, batch):
    done = tryon("data", "add-batch", str(batch), "--name", "2026-12-tops", "--remote", "nowhere", cwd=repo)
    assert done.returncode == 1
    commit = run_git("rev-parse", "--short=12", "HEAD", repo=repo).strip()
    assert f"batch 2026-12-tops is committed as {commit}, but its data was not pushed" in done.stderr
    assert "dvc push data.dvc" in done.stderr
    assert run_git("log", "-1", "--format=%s", repo=repo).startswith("data: garment batch 2026-12-tops")
