"""The DVC-tracked dataset folder (data.dvc): pin the synthetic set, get it on a fresh clone.

data.dvc's `meta` section records where the data came from: `synth`, the generator's arguments and
the image library versions that wrote the files, and `batches`, the garment batches added since.
A fresh clone gets the exact data data.dvc names with `fetch_data`: from the DVC remote, or, when
the remote does not have it and the data is the unmodified synthetic set, by running the generator
again and checking that the result hashes to what data.dvc names. The generator is deterministic,
but JPEG and PNG encoders are not bound to give the same bytes across library versions (Pillow,
libjpeg, OpenCV, NumPy), so a different version can write other bytes; the hash check then refuses
the regenerated data, says which versions differ, and how to get or re-pin the data.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tryon.config import Resolution, SynthConfig
from tryon.versioning.commands import CommandError, run_dvc

DATA_DVC = "data.dvc"


def image_library_versions() -> dict[str, str]:
    """Versions of the libraries whose encoders decide the bytes of the synthetic images."""
    import cv2
    import numpy
    import PIL

    return {"numpy": numpy.__version__, "opencv": cv2.__version__, "pillow": PIL.__version__}


@dataclass(frozen=True)
class SynthRecipe:
    """How the synthetic dataset in data.dvc was written: `tryon data synth` arguments and libraries."""

    n_train: int
    n_test: int
    seed: int
    resolution: str  # HxW
    libraries: Mapping[str, str] = field(default_factory=dict)  # image_library_versions() when written

    @classmethod
    def from_params(cls, synth: SynthConfig, resolution: Resolution) -> SynthRecipe:
        return cls(synth.n_train, synth.n_test, synth.seed, str(resolution), image_library_versions())

    def to_meta(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "seed": self.seed,
            "resolution": self.resolution,
            "libraries": dict(self.libraries),
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> SynthRecipe:
        return cls(
            n_train=int(meta["n_train"]),
            n_test=int(meta["n_test"]),
            seed=int(meta["seed"]),
            resolution=str(meta["resolution"]),
            libraries=dict(meta.get("libraries") or {}),
        )

    def command(self) -> str:
        return (
            f"tryon data synth --out data --n {self.n_train} --n-test {self.n_test} "
            f"--seed {self.seed} --size {self.resolution}"
        )


@dataclass(frozen=True)
class TrackedDataset:
    """What a .dvc file says about the folder it tracks."""

    dvc_file: Path
    path: Path  # the tracked folder
    md5: str  # DVC's directory hash, `....dir`
    nfiles: int | None
    synth: SynthRecipe | None  # the synthetic set it started from
    batches: tuple[dict[str, Any], ...]  # garment batches added since, oldest first


def read_tracked(dvc_file: Path) -> TrackedDataset:
    """Parse a .dvc file that tracks one folder; ValueError naming the file when it is not one."""
    dvc_file = Path(dvc_file)
    if not dvc_file.is_file():
        raise FileNotFoundError(f"{dvc_file}: no such file; `dvc add data` creates it")
    content = yaml.safe_load(dvc_file.read_text()) or {}
    outs = content.get("outs") or []
    if len(outs) != 1 or "md5" not in outs[0] or "path" not in outs[0]:
        raise ValueError(f"{dvc_file}: expected one output with `path` and `md5`; recreate it with `dvc add`")
    meta = content.get("meta") or {}
    return TrackedDataset(
        dvc_file=dvc_file,
        path=dvc_file.parent / outs[0]["path"],
        md5=str(outs[0]["md5"]),
        nfiles=outs[0].get("nfiles"),
        synth=SynthRecipe.from_meta(meta["synth"]) if meta.get("synth") else None,
        batches=tuple(meta.get("batches") or ()),
    )


def write_meta(dvc_file: Path, meta: Mapping[str, Any]) -> None:
    """Replace the `meta` section of a .dvc file (`dvc add` keeps it when it rewrites the file)."""
    from tryon.atomic import atomic_path

    dvc_file = Path(dvc_file)
    content = (yaml.safe_load(dvc_file.read_text()) or {}) if dvc_file.exists() else {}
    content["meta"] = dict(meta)
    with atomic_path(dvc_file) as tmp:
        tmp.write_text(yaml.safe_dump(content, sort_keys=False))


def dataset_hash(path: Path) -> str:
    """DVC's md5 hash of a folder (`....dir`), as `dvc add` would record it, without caching anything."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:
        _, _, tree = build(HashFileDB(fs, scratch), str(path), fs, "md5", dry_run=True)
    return tree.hash_info.value


def _generate(recipe: SynthRecipe, out: Path) -> None:
    from tryon.data.synthetic import generate_dataset

    # One worker: the output is the same for any count, and a library caller needs no __main__ guard.
    generate_dataset(
        out,
        n_train=recipe.n_train,
        n_test=recipe.n_test,
        resolution=Resolution.parse(recipe.resolution),
        seed=recipe.seed,
        workers=1,
    )


def pin_synthetic(repo: Path, *, synth: SynthConfig, resolution: Resolution) -> TrackedDataset:
    """Write the synthetic dataset of `synth` at `resolution` to REPO/data, replacing what is there,
    record its recipe in data.dvc's meta and `dvc add` it. The caller commits data.dvc."""
    repo = Path(repo)
    recipe = SynthRecipe.from_params(synth, resolution)
    with tempfile.TemporaryDirectory(dir=repo, prefix=".synth-") as scratch:
        staged = Path(scratch) / "data"
        _generate(recipe, staged)
        shutil.rmtree(repo / "data", ignore_errors=True)
        staged.rename(repo / "data")
    run_dvc("add", "-q", "data", repo=repo)
    write_meta(repo / DATA_DVC, {"synth": recipe.to_meta(), "batches": []})
    return read_tracked(repo / DATA_DVC)


@dataclass(frozen=True)
class FetchOutcome:
    """How `fetch_data` got the dataset: `present`, `pulled` or `regenerated`."""

    how: str
    path: Path
    md5: str

    def summary(self) -> str:
        what = {
            "present": "already matches data.dvc",
            "pulled": "checked out by `dvc pull` (from the DVC cache or remote)",
            "regenerated": "regenerated from the synthetic recipe in data.dvc; the hash matches",
        }[self.how]
        return f"data: {self.path} {what} ({self.md5})"


class DataUnavailable(RuntimeError):
    """The dataset that data.dvc names could not be obtained; the message says how to get it."""


def fetch_data(repo: Path, *, remote: str | None = None) -> FetchOutcome:
    """Make REPO/data the dataset that data.dvc names: keep it when it matches, else `dvc pull` it,
    else regenerate the synthetic set and accept it only when its hash matches.

    Raises DataUnavailable with instructions when none works, and FileExistsError when data/ holds
    changes that are not in data.dvc (they are never overwritten).
    """
    repo = Path(repo)
    tracked = read_tracked(repo / DATA_DVC)
    if tracked.path.exists():
        if dataset_hash(tracked.path) == tracked.md5:
            return FetchOutcome("present", tracked.path, tracked.md5)
        raise FileExistsError(
            f"{tracked.path}: differs from what {tracked.dvc_file.name} names; keep the change with "
            f"`dvc add data` and commit {tracked.dvc_file.name}, or discard it with `dvc checkout --force data.dvc`"
        )
    try:
        run_dvc("pull", "-q", *(["-r", remote] if remote else []), tracked.dvc_file.name, repo=repo)
        return FetchOutcome("pulled", tracked.path, tracked.md5)
    except CommandError as error:
        pull_error = str(error).splitlines()[-1]
    if tracked.synth is None or tracked.batches:
        added = ", ".join(str(batch.get("name")) for batch in tracked.batches)
        why = f"it holds garment batches ({added})" if tracked.batches else "it records no synthetic recipe"
        raise DataUnavailable(
            f"{tracked.dvc_file.name} names {tracked.md5}, which the DVC remote does not have ({pull_error}) "
            f"and which cannot be regenerated: {why}. Push it from a machine that has it (`dvc push`), "
            "or select the remote that holds it (`tryon data fetch --remote NAME`)"
        )
    return _regenerate(repo, tracked, pull_error=pull_error)


def _regenerate(repo: Path, tracked: TrackedDataset, *, pull_error: str) -> FetchOutcome:
    recipe = tracked.synth
    assert recipe is not None
    with tempfile.TemporaryDirectory(dir=repo, prefix=".synth-") as scratch:
        staged = Path(scratch) / "data"
        _generate(recipe, staged)
        got = dataset_hash(staged)
        if got != tracked.md5:
            now = image_library_versions()
            differ = [
                f"{name} {recipe.libraries.get(name, '?')} -> {version}"
                for name, version in now.items()
                if recipe.libraries.get(name) != version
            ]
            libraries = (
                f"the image libraries differ from those that wrote it ({', '.join(differ)})"
                if differ
                else "the image libraries report the versions that wrote it, so an encoder underneath "
                "(libjpeg, libpng) must differ"
            )
            raise DataUnavailable(
                f"the DVC remote does not have {tracked.md5} ({pull_error}); regenerating it "
                f"(`{recipe.command()}`) gave {got}: {libraries}. Get the original with `dvc pull` from a "
                "remote that holds it, or adopt the regenerated set as a new data version with "
                "`tryon data pin-synthetic` and commit data.dvc (models trained on the old version then "
                "no longer match it)"
            )
        staged.rename(tracked.path)
    # Into the cache, so that `dvc status` is clean and `dvc push` can share it.
    run_dvc("commit", "-q", "-f", tracked.dvc_file.name, repo=repo)
    return FetchOutcome("regenerated", tracked.path, tracked.md5)
