"""Convert a whole dataset to another resolution (256x192, 512x384, 1024x768 or any of the same aspect).

Images are resampled (area averaging down, bicubic up), parsing maps by nearest neighbour, garment
masks as grey levels cut at half, keypoints scaled with the same pixel-centre map. Pairs files are
copied and the synthetic manifest records the new resolution. The source is validated first and the
result before it appears: the output folder is built beside its destination and renamed into place,
so it is either complete and valid or absent.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tryon.config import DataConfig, Resolution
from tryon.data.framing import Frame, frame_keypoints, resize_labels, resize_mask, resize_photo
from tryon.data.images import read_image
from tryon.data.layout import (
    IMAGE_SUFFIX,
    LABEL_SUFFIX,
    PHASES,
    POSE_SUFFIX,
    DatasetLayout,
    atomic_write_text,
    read_label,
    read_mask,
    read_pose,
    read_rgb,
    write_label,
    write_mask,
    write_pose,
    write_rgb,
)
from tryon.data.synthetic import MANIFEST_NAME
from tryon.data.validate import validate_dataset
from tryon.progress import progress_bar

ASPECT_TOLERANCE = 0.01  # relative; beyond it a resize would stretch people


class InvalidDataset(ValueError):
    """A dataset that cannot be resized as it is; the message lists its problems."""


@dataclass(frozen=True)
class ResizeSummary:
    """What `resize_dataset` wrote."""

    out: Path
    source: Resolution
    resolution: Resolution
    files: int

    def summary(self) -> str:
        return f"resize: {self.files} files from {self.source} to {self.resolution} in {self.out}"


def dataset_resolution(root: Path) -> Resolution:
    """The resolution of a dataset root, read from the header of its first person image."""
    for phase in PHASES:
        layout = DatasetLayout(root, phase)
        names = layout.person_names()
        if names:
            width, height = read_image(layout.person_image(names[0])).size
            return Resolution(height=height, width=width)
    raise InvalidDataset(f"{root}: no person images in train_img/ or test_img/: not a dataset root")


def resize_dataset(
    root: Path,
    out: Path,
    *,
    resolution: Resolution,
    progress: bool = False,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> ResizeSummary:
    """Write the dataset at `root` to `out` at `resolution`; `out` must not exist or be empty.

    Raises InvalidDataset when the source fails validation at its own resolution or has another
    aspect ratio than `resolution`, FileExistsError when `out` holds files.
    """
    root, out = Path(root), Path(out)
    source = dataset_resolution(root)
    report = validate_dataset(root, resolution=source, max_image_pixels=max_image_pixels)
    if not report.ok:
        problems = "; ".join(map(str, report.problems[:3]))
        raise InvalidDataset(
            f"{report.summary()} (first: {problems}); run `tryon data validate` and fix them"
        )
    ratio = (resolution.width / resolution.height) / (source.width / source.height)
    if abs(ratio - 1) > ASPECT_TOLERANCE:
        raise InvalidDataset(
            f"{root} is {source} (HxW) and {resolution} has another aspect ratio: resizing would stretch "
            "the people; pick a size of the same aspect (256x192, 512x384, 1024x768 are all 4:3)"
        )
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; resize into a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.resize-") as scratch:
        built = Path(scratch) / "dataset"
        jobs = [
            job
            for phase in report.phases
            for job in _jobs(DatasetLayout(root, phase), DatasetLayout(built, phase))
        ]
        for job in progress_bar(jobs, total=len(jobs), unit="file", desc="resize", enabled=progress):
            job.run(source=source, resolution=resolution, max_image_pixels=max_image_pixels)
        _copy_manifest(root, built, resolution)
        written = validate_dataset(
            built, resolution=resolution, phases=report.phases, max_image_pixels=max_image_pixels
        )
        if not written.ok:
            raise InvalidDataset(f"the resized dataset fails validation: {written.problems[0]}")
        if out.exists():
            out.rmdir()
        os.replace(built, out)
    return ResizeSummary(out=out, source=source, resolution=resolution, files=len(jobs))


@dataclass(frozen=True)
class _Job:
    """One file to convert: its kind says how."""

    kind: str  # photo, label, mask, pose or text
    source: Path
    target: Path

    def run(self, *, source: Resolution, resolution: Resolution, max_image_pixels: int) -> None:
        pixels = {"max_image_pixels": max_image_pixels}
        if self.kind == "photo":
            write_rgb(self.target, resize_photo(read_rgb(self.source, **pixels), resolution))
        elif self.kind == "label":
            write_label(self.target, resize_labels(read_label(self.source, **pixels), resolution))
        elif self.kind == "mask":
            write_mask(self.target, resize_mask(read_mask(self.source, **pixels), resolution))
        elif self.kind == "pose":
            frame = Frame(top=0, left=0, height=source.height, width=source.width)
            write_pose(self.target, frame_keypoints(read_pose(self.source), frame, resolution))
        else:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.source, self.target)


def _jobs(layout: DatasetLayout, built: DatasetLayout) -> list[_Job]:
    """Every file of one phase of the folder contract, with where its converted copy goes."""
    folders = (
        ("photo", layout.image_dir, built.image_dir, IMAGE_SUFFIX),
        ("label", layout.label_dir, built.label_dir, LABEL_SUFFIX),
        ("pose", layout.pose_dir, built.pose_dir, POSE_SUFFIX),
        ("photo", layout.garment_dir, built.garment_dir, IMAGE_SUFFIX),
        ("mask", layout.garment_mask_dir, built.garment_mask_dir, IMAGE_SUFFIX),
        ("photo", layout.unpaired_gt_dir, built.unpaired_gt_dir, IMAGE_SUFFIX),
    )
    jobs = [
        _Job(kind, path, target_dir / path.name)
        for kind, source_dir, target_dir, suffix in folders
        if source_dir.is_dir()
        for path in sorted(source_dir.glob(f"*{suffix}"))
    ]
    for source, target in (
        (layout.pairs_file, built.pairs_file),
        (layout.unpaired_file, built.unpaired_file),
    ):
        if source.is_file():
            jobs.append(_Job("text", source, target))
    return jobs


def _copy_manifest(root: Path, built: Path, resolution: Resolution) -> None:
    """The synthetic manifest, if any, with the new resolution (its samples are the same)."""
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        document = json.loads(manifest.read_text())
        document["resolution"] = str(resolution)
        atomic_write_text(built / MANIFEST_NAME, json.dumps(document, indent=1) + "\n")
