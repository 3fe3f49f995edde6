"""data.dvc on a fresh clone: the synthetic set pinned with its recipe, then pulled or regenerated."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.unit.test_dvc_repo import copy_repo, make_repo, read_tree
from tryon.config import Resolution, SynthConfig
from tryon.versioning.commands import run_dvc
from tryon.versioning.dataset import (
    DataUnavailable,
    dataset_hash,
    fetch_data,
    image_library_versions,
    pin_synthetic,
    read_tracked,
    write_meta,
)

SYNTH = SynthConfig(n_train=2, n_test=2, seed=3)
SIZE = Resolution(32, 32)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A repository with a tiny synthetic set pinned in data.dvc and pushed, beside its remote."""
    base = tmp_path_factory.mktemp("pinned")
    repo = make_repo(base / "repo", remote=base / "remote")
    pin_synthetic(repo, synth=SYNTH, resolution=SIZE)
    run_dvc("push", "-q", repo=repo)
    return base


@pytest.fixture
def pinned(template, tmp_path):
    """A copy of the template for one test: (repo, its data files by path)."""
    repo = copy_repo(template, tmp_path / "copy") / "repo"
    return repo, read_tree(repo / "data")


def fresh_clone_state(repo, *, remote=None):
    """What a fresh clone has: data.dvc, but no data and no cache (and, optionally, an empty remote)."""
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    if remote is not None:
        shutil.rmtree(remote, ignore_errors=True)


def test_pin_records_the_recipe_and_the_hash(pinned):
    repo, files = pinned
    tracked = read_tracked(repo / "data.dvc")
    assert tracked.md5 == dataset_hash(repo / "data") and tracked.md5.endswith(".dir")
    assert tracked.nfiles == len(files)
    assert (tracked.synth.n_train, tracked.synth.n_test, tracked.synth.seed) == (2, 2, 3)
    assert tracked.synth.resolution == "32x32"
    assert tracked.synth.libraries == image_library_versions()
    assert tracked.batches == ()


def test_present_data_is_kept_and_changed_data_never_overwritten(pinned):
    repo, _ = pinned
    assert fetch_data(repo).how == "present"
    (repo / "data" / "train_pairs.txt").write_text("changed\n")
    with pytest.raises(FileExistsError, match="differs from what data.dvc names"):
        fetch_data(repo)
    assert (repo / "data" / "train_pairs.txt").read_text() == "changed\n"


def test_fresh_clone_pulls_from_the_remote(pinned, tmp_path):
    repo, files = pinned
    fresh_clone_state(repo)
    assert fetch_data(repo).how == "pulled"
    assert read_tree(repo / "data") == files


def test_without_a_remote_copy_the_synthetic_set_is_regenerated_and_hash_checked(pinned, tmp_path):
    repo, files = pinned
    fresh_clone_state(repo, remote=repo.parent / "remote")
    outcome = fetch_data(repo)
    assert outcome.how == "regenerated"
    assert read_tree(repo / "data") == files
    assert fetch_data(repo).how == "present"  # and it went into the cache: dvc sees no change
    assert run_dvc("status", "--json", "data.dvc", repo=repo).strip() in ("{}", "")


def test_a_hash_mismatch_names_the_differing_libraries_and_leaves_no_data(pinned, tmp_path):
    repo, _ = pinned
    content = yaml.safe_load((repo / "data.dvc").read_text())
    content["outs"][0]["md5"] = "0" * 32 + ".dir"  # as if written by other encoders
    (repo / "data.dvc").write_text(yaml.safe_dump(content, sort_keys=False))
    meta = content["meta"]
    meta["synth"]["libraries"]["pillow"] = "9.0.0"
    write_meta(repo / "data.dvc", meta)
    fresh_clone_state(repo, remote=repo.parent / "remote")
    with pytest.raises(DataUnavailable, match=r"pillow 9\.0\.0 -> .*pin-synthetic"):
        fetch_data(repo)
    assert not (repo / "data").exists()
    assert not list(repo.glob(".synth-*"))


def test_data_with_batches_is_not_regenerated(pinned, tmp_path):
    repo, _ = pinned
    meta = yaml.safe_load((repo / "data.dvc").read_text())["meta"]
    write_meta(repo / "data.dvc", {**meta, "batches": [{"name": "2026-12-tops"}]})
    fresh_clone_state(repo, remote=repo.parent / "remote")
    with pytest.raises(
        DataUnavailable, match=r"cannot be regenerated: it holds garment batches \(2026-12-tops\)"
    ):
        fetch_data(repo)


def test_fetch_outside_a_repository_is_one_line_naming_the_file(tmp_path):
    from typer.testing import CliRunner

    from tryon.cli import app

    result = CliRunner().invoke(app, ["data", "fetch", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "data fetch:" in result.output and "data.dvc: no such file" in result.output
    assert "Traceback" not in result.output
