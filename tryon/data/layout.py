"""The ACGPN/VITON folder contract: paths, pairs, pose JSON, and image/label/mask I/O.

A dataset root holds, per phase (`train` or `test`)::

    {phase}_img/NAME.jpg                 person image, RGB
    {phase}_label/NAME.png               parsing map, ACGPN ids (tryon.labels)
    {phase}_pose/NAME_keypoints.json     OpenPose COCO-18
    {phase}_color/CLOTH.jpg              laydown garment on white
    {phase}_edge/CLOTH.jpg               garment mask
    {phase}_pairs.txt                    `NAME.jpg CLOTH.jpg` per line (optional)
    {phase}_unpaired_gt/NAME.jpg         synthetic only: the person wearing another garment
    {phase}_unpaired.txt                 synthetic only: `NAME.jpg CLOTH.jpg` for those images
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tryon.atomic import atomic_path
from tryon.labels import NUM_KEYPOINTS

PHASES = ("train", "test")
IMAGE_SUFFIX = ".jpg"
LABEL_SUFFIX = ".png"
POSE_SUFFIX = "_keypoints.json"
JPEG_QUALITY = 95
MASK_THRESHOLD = 128  # JPEG masks are near-binary; this splits them back into 0/1


class PoseFormatError(ValueError):
    """A pose file that does not follow the OpenPose COCO-18 JSON format."""


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


def read_pose(path: Path) -> np.ndarray:
    """Read OpenPose COCO-18 JSON into an (18, 3) float32 array of (x, y, confidence) in pixels.

    Accepts the keypoints under `pose_keypoints` (OpenPose 1.0, as in VITON) or `pose_keypoints_2d`.
    """
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoseFormatError(f"{path}: not readable JSON ({error})") from error
    people = document.get("people") if isinstance(document, dict) else None
    if not isinstance(people, list):
        raise PoseFormatError(f"{path}: no 'people' list")
    if not people:
        raise PoseFormatError(f"{path}: 'people' is empty (no person detected)")
    person = people[0]
    keypoints = None
    if isinstance(person, dict):
        keypoints = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
    if not isinstance(keypoints, list):
        raise PoseFormatError(f"{path}: people[0] has neither 'pose_keypoints' nor 'pose_keypoints_2d'")
    if len(keypoints) != NUM_KEYPOINTS * 3:
        raise PoseFormatError(
            f"{path}: {len(keypoints)} values, expected {NUM_KEYPOINTS * 3} (COCO-18 x, y, confidence)"
        )
    try:
        array = np.asarray(keypoints, dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
    except (TypeError, ValueError) as error:
        raise PoseFormatError(f"{path}: keypoints are not all numbers ({error})") from error
    if not np.isfinite(array).all():
        raise PoseFormatError(f"{path}: keypoints hold NaN or infinite values")
    return array


def write_pose(path: Path, keypoints: np.ndarray, *, key: str = "pose_keypoints") -> None:
    """Write (18, 3) keypoints as OpenPose JSON under `key` (`pose_keypoints` or `pose_keypoints_2d`)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints have shape {keypoints.shape}, expected ({NUM_KEYPOINTS}, 3)")
    values = [round(float(v), 3) for v in keypoints.reshape(-1)]
    atomic_write_text(path, json.dumps({"version": 1.0, "people": [{key: values}]}))


def read_rgb(path: Path) -> np.ndarray:
    """Read an image as an (H, W, 3) uint8 RGB array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_label(path: Path) -> np.ndarray:
    """Read a parsing map as an (H, W) uint8 array of label ids."""
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise ValueError(f"{path}: parsing map has mode {image.mode}, expected single-channel (L or P)")
        return np.asarray(image)


def read_mask(path: Path) -> np.ndarray:
    """Read a (possibly JPEG-compressed) mask as an (H, W) bool array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) >= MASK_THRESHOLD


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
