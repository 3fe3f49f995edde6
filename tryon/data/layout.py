"""The ACGPN/VITON folder contract: paths, pairs, pose JSON, and image/label/mask I/O.

A dataset root holds, per phase (`train` or `test`)::

    {phase}_img/NAME.jpg                 person image, RGB
    {phase}_label/NAME.png               parsing map, ACGPN ids (tryon.labels)
    {phase}_pose/NAME_keypoints.json     OpenPose COCO-18 (BODY_25 is read too: tryon.data.pose)
    {phase}_color/CLOTH.jpg              laydown garment on white
    {phase}_edge/CLOTH.jpg               garment mask
    {phase}_pairs.txt                    `NAME.jpg CLOTH.jpg` per line (optional)
    {phase}_unpaired_gt/NAME.jpg         synthetic only: the person wearing another garment
    {phase}_unpaired.txt                 synthetic only: `NAME.jpg CLOTH.jpg` for those images

Every image is read through `tryon.data.images.read_image`: decompression bombs and truncated or
corrupt files raise UnusableImage naming the file, as the validator reports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tryon.atomic import atomic_path
from tryon.config import DataConfig
from tryon.data.images import read_image
from tryon.data.pose import PoseFormatError, read_pose, write_pose  # noqa: F401  (pose files are part of the contract)

PHASES = ("train", "test")
IMAGE_SUFFIX = ".jpg"
LABEL_SUFFIX = ".png"
POSE_SUFFIX = "_keypoints.json"
JPEG_QUALITY = 95
MASK_THRESHOLD = 128  # JPEG masks are near-binary; this splits them back into 0/1


@dataclass(frozen=True)
class Pair:
    """One person image and the garment shown with it (file names, suffixes included)."""

    person: str
    garment: str

    @property
    def person_stem(self) -> str:
        return Path(self.person).stem


@dataclass(frozen=True)
class DatasetLayout:
    """Paths of one phase of a dataset root."""

    root: Path
    phase: str = "train"

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase {self.phase!r} is not one of {PHASES}")

    def _dir(self, kind: str) -> Path:
        return Path(self.root) / f"{self.phase}_{kind}"

    @property
    def image_dir(self) -> Path:
        return self._dir("img")

    @property
    def label_dir(self) -> Path:
        return self._dir("label")

    @property
    def pose_dir(self) -> Path:
        return self._dir("pose")

    @property
    def garment_dir(self) -> Path:
        return self._dir("color")

    @property
    def garment_mask_dir(self) -> Path:
        return self._dir("edge")

    @property
    def unpaired_gt_dir(self) -> Path:
        return self._dir("unpaired_gt")

    @property
    def pairs_file(self) -> Path:
        return Path(self.root) / f"{self.phase}_pairs.txt"

    @property
    def unpaired_file(self) -> Path:
        return Path(self.root) / f"{self.phase}_unpaired.txt"

    def person_image(self, person: str) -> Path:
        return self.image_dir / f"{Path(person).stem}{IMAGE_SUFFIX}"

    def label(self, person: str) -> Path:
        return self.label_dir / f"{Path(person).stem}{LABEL_SUFFIX}"

    def pose(self, person: str) -> Path:
        return self.pose_dir / f"{Path(person).stem}{POSE_SUFFIX}"

    def garment(self, garment: str) -> Path:
        return self.garment_dir / f"{Path(garment).stem}{IMAGE_SUFFIX}"

    def garment_mask(self, garment: str) -> Path:
        return self.garment_mask_dir / f"{Path(garment).stem}{IMAGE_SUFFIX}"

    def unpaired_gt(self, person: str) -> Path:
        return self.unpaired_gt_dir / f"{Path(person).stem}{IMAGE_SUFFIX}"

    def person_names(self) -> list[str]:
        """Person image file names in sorted order."""
        return sorted(p.name for p in self.image_dir.glob(f"*{IMAGE_SUFFIX}"))

    def garment_names(self) -> list[str]:
        """Garment image file names in sorted order."""
        return sorted(p.name for p in self.garment_dir.glob(f"*{IMAGE_SUFFIX}"))

    def make_dirs(self) -> None:
        for directory in (self.image_dir, self.label_dir, self.pose_dir, self.garment_dir, self.garment_mask_dir):
            directory.mkdir(parents=True, exist_ok=True)


def parse_pair_line(line: str) -> Pair | None:
    """One pairs-file line as a Pair, None for a blank line; ValueError says what is wrong with it."""
    fields = line.split()
    if not fields:
        return None
    if len(fields) != 2:
        raise ValueError(f"expected 'PERSON.jpg GARMENT.jpg', got {line!r}")
    return Pair(person=fields[0], garment=fields[1])


def parse_pairs(text: str, *, source: str) -> list[Pair]:
    """Parse the lines of a pairs file; raises ValueError naming the line for malformed ones."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            pair = parse_pair_line(line)
        except ValueError as error:
            raise ValueError(f"{source}:{number}: {error}") from None
        if pair is not None:
            pairs.append(pair)
    return pairs


def read_pairs(layout: DatasetLayout) -> list[Pair]:
    """The phase's pairs: the pairs file when present, else persons and garments zipped in sorted order.

    Sorted pairing is what the original ACGPN loader does when no pairs file is given.
    """
    if layout.pairs_file.exists():
        return parse_pairs(layout.pairs_file.read_text(), source=str(layout.pairs_file))
    persons, garments = layout.person_names(), layout.garment_names()
    if len(persons) != len(garments):
        raise ValueError(
            f"{layout.root}: no {layout.pairs_file.name} and {len(persons)} person images but "
            f"{len(garments)} garments; sorted pairing needs equal counts (write a pairs file)"
        )
    return [Pair(person=p, garment=g) for p, g in zip(persons, garments, strict=True)]


def read_unpaired(layout: DatasetLayout) -> list[Pair]:
    """Synthetic data only: which garment each unpaired ground-truth image shows (empty when absent)."""
    if not layout.unpaired_file.exists():
        return []
    return parse_pairs(layout.unpaired_file.read_text(), source=str(layout.unpaired_file))


def write_pairs(path: Path, pairs: Iterable[Pair]) -> None:
    atomic_write_text(path, "".join(f"{pair.person} {pair.garment}\n" for pair in pairs))


def read_rgb(path: Path, *, max_image_pixels: int = DataConfig.max_image_pixels) -> np.ndarray:
    """Read an image as an (H, W, 3) uint8 RGB array; UnusableImage names the file when it cannot."""
    return np.asarray(read_image(path, max_image_pixels=max_image_pixels).convert("RGB"))


def read_label(path: Path, *, max_image_pixels: int = DataConfig.max_image_pixels) -> np.ndarray:
    """Read a parsing map as an (H, W) uint8 array of label ids."""
    image = read_image(path, max_image_pixels=max_image_pixels)
    if image.mode not in ("L", "P"):
        raise ValueError(f"{path}: parsing map has mode {image.mode}, expected single-channel (L or P)")
    return np.asarray(image)


def read_mask(path: Path, *, max_image_pixels: int = DataConfig.max_image_pixels) -> np.ndarray:
    """Read a (possibly JPEG-compressed) mask as an (H, W) bool array."""
    return np.asarray(read_image(path, max_image_pixels=max_image_pixels).convert("L")) >= MASK_THRESHOLD


def write_rgb(path: Path, image: np.ndarray) -> None:
    _atomic_save(path, Image.fromarray(np.asarray(image, dtype=np.uint8), mode="RGB"))


def write_label(path: Path, label: np.ndarray) -> None:
    _atomic_save(path, Image.fromarray(np.asarray(label, dtype=np.uint8), mode="L"))


def write_mask(path: Path, mask: np.ndarray) -> None:
    _atomic_save(path, Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L"))


def _atomic_save(path: Path, image: Image.Image) -> None:
    path = Path(path)
    options = {"quality": JPEG_QUALITY} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    with atomic_path(path) as tmp:
        image.save(tmp, format=Image.registered_extensions()[path.suffix.lower()], **options)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(text)
