"""Add a batch of garment photos to the DVC-tracked dataset as one new, pushed data version.

The steps a data team would otherwise run by hand, in an order that never versions a broken
dataset: check the repository is clean, import the photos (tryon.data.garments), validate the whole
dataset, `dvc add data`, commit data.dvc (and nothing else), push the data to the DVC remote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tryon.config import DataConfig, Resolution
from tryon.versioning.commands import CommandError, run_dvc, run_git
from tryon.versioning.dataset import DATA_DVC, dataset_hash, read_tracked, write_meta

BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Batch names travel in commit messages and data.dvc: letters, digits, `.`, `_`, `-`, at most 64."""


class BatchRefused(ValueError):
    """A batch that was not versioned; the message says why and what to do."""


@dataclass(frozen=True)
class BatchOutcome:
    """A versioned garment batch: its name, the garments it added, the commit and data hash."""

    name: str
    garments: tuple[str, ...]
    commit: str
    md5: str
    pushed: bool

    def summary(self) -> str:
        where = "pushed to the DVC remote" if self.pushed else "not pushed (run `dvc push`)"
        return (
            f"batch {self.name}: {len(self.garments)} garments, data {self.md5}, "
            f"commit {self.commit[:12]}, {where}"
        )


def _check_ready(repo: Path, name: str, phase: str, src: Path) -> None:
    tracked = read_tracked(repo / DATA_DVC)
    if not BATCH_NAME.fullmatch(name):
        raise BatchRefused(
            f"batch name {name!r}: use letters, digits, '.', '_', '-' (at most 64), e.g. 2026-12-tops"
        )
    if any(batch.get("name") == name for batch in tracked.batches):
        raise BatchRefused(f"batch {name!r} is already in {DATA_DVC}; give the new batch another name")
    if run_git("status", "--porcelain", "--", DATA_DVC, repo=repo).strip():
        raise BatchRefused(f"{DATA_DVC} has uncommitted changes; commit or restore it first")
    if not tracked.path.is_dir():
        raise BatchRefused(
            f"{tracked.path}: no dataset here; get the current version with `tryon data fetch`"
        )
    if dataset_hash(tracked.path) != tracked.md5:
        raise BatchRefused(
            f"{tracked.path} differs from the version {DATA_DVC} names; version those changes first "
            "(`dvc add data`, commit data.dvc) or discard them (`dvc checkout --force data.dvc`)"
        )
    garment_dir = tracked.path / f"{phase}_color"
    clashes = sorted(
        photo.name
        for photo in Path(src).iterdir()
        if photo.is_file() and (garment_dir / f"{photo.stem}.jpg").exists()
    )
    if clashes:
        raise BatchRefused(
            f"{src}: {', '.join(clashes)} would replace garments of the dataset; a batch only adds, rename them"
        )


def add_garment_batch(
    repo: Path,
    src: Path,
    *,
    name: str,  # batch name, e.g. 2026-12-tops; recorded in data.dvc and the commit message
    resolution: Resolution,  # the dataset's size (data.resolution)
    phase: str = "train",
    max_image_pixels: int = DataConfig.max_image_pixels,
    push: bool = True,  # `dvc push` the new version (data.dvc's data only) to the remote
    remote: str | None = None,  # DVC remote to push to; the default remote when None
) -> BatchOutcome:
    """Import the garment photos of `src` into REPO/data and version the result as one commit.

    Nothing is versioned unless every photo is usable and the whole dataset validates; the
    photos imported so far are then left in data/ for inspection, and `dvc checkout --force
    data.dvc` restores the last version. Raises BatchRefused with the reason.
    """
    from tryon.data.garments import add_garments
    from tryon.data.validate import validate_dataset

    repo, src = Path(repo), Path(src)
    if not src.is_dir():
        raise BatchRefused(f"{src}: no such folder of garment photos")
    _check_ready(repo, name, phase, src)
    tracked = read_tracked(repo / DATA_DVC)
    restore = "`dvc checkout --force data.dvc` restores the last version"
    imported = add_garments(
        src, tracked.path, phase=phase, resolution=resolution, max_image_pixels=max_image_pixels
    )
    if imported.refused:
        reasons = "; ".join(str(problem) for problem in imported.refused)
        raise BatchRefused(
            f"batch {name}: {len(imported.refused)} photos refused ({reasons}); fix them, {restore}"
        )
    if not imported.added:
        raise BatchRefused(f"batch {name}: {src} holds no photos to add")
    report = validate_dataset(tracked.path, resolution=resolution, max_image_pixels=max_image_pixels)
    if not report.ok:
        problems = "; ".join(str(problem) for problem in report.problems[:10])
        raise BatchRefused(
            f"batch {name}: the dataset does not validate: {report.summary()}: {problems}; {restore}"
        )
    garments = tuple(path.name for path in imported.added)
    run_dvc("add", "-q", "data", repo=repo)
    batch = {
        "name": name,
        "phase": phase,
        "garments": len(garments),
        "added": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_meta(
        repo / DATA_DVC,
        {
            **({"synth": tracked.synth.to_meta()} if tracked.synth else {}),
            "batches": [*tracked.batches, batch],
        },
    )
    run_git("add", DATA_DVC, repo=repo)
    run_git(
        "commit",
        "-q",
        "-m",
        f"data: garment batch {name} ({len(garments)} garments, {phase})",
        "--",
        DATA_DVC,
        repo=repo,
    )
    commit = run_git("rev-parse", "HEAD", repo=repo).strip()
    if push:
        try:
            run_dvc("push", "-q", *(["-r", remote] if remote else []), DATA_DVC, repo=repo)
        except CommandError as error:
            raise CommandError(
                f"batch {name} is committed as {commit[:12]}, but its data was not pushed: {error}; "
                "push it with `dvc push data.dvc` once the remote is reachable"
            ) from error
    return BatchOutcome(
        name=name, garments=garments, commit=commit, md5=read_tracked(repo / DATA_DVC).md5, pushed=push
    )
