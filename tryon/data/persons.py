"""Import person photos: photo, OpenPose JSON and a human parser's map become a dataset person.

A person photo of any size comes with, beside it, an OpenPose JSON (COCO-18 or BODY_25) and a parsing
map from a LIP, CIHP or ATR parser, both computed on that photo. `prepare_person` frames the person
at the dataset's aspect ratio (the parsing map's foreground, with a margin; a frame larger than the
photo is padded with the photo's background colour), resizes photo and parsing map to the
resolution (nearest for labels), maps the keypoints through the same transform, and remaps the
labels to ACGPN ids (tryon.labels). `add_persons` does that for a folder and writes
`{phase}_img/NAME.jpg`, `{phase}_label/NAME.png` and `{phase}_pose/NAME_keypoints.json`.

Photos are read as viewers show them (EXIF rotation applied), as OpenPose and the parsers read them
through OpenCV.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ImageOps

from tryon.config import DataConfig, Resolution
from tryon.data.framing import Frame, crop_frame, frame_keypoints, resize_labels, resize_photo
from tryon.data.images import UnusableImage, decode_image
from tryon.data.importing import ImportReport, install, list_photos, stage
from tryon.data.layout import POSE_SUFFIX, DatasetLayout, write_label, write_pose, write_rgb
from tryon.data.pose import PoseFormatError, read_pose
from tryon.data.remap import ParsingRefused, read_parser_map
from tryon.data.validate import Problem, check_person_files
from tryon.labels import KEYPOINT, PARSERS, POSE_KEYPOINTS, Label
from tryon.progress import progress_bar

PARSING_SUFFIX = "_parsing.png"
"""A parsing map beside its photo is `NAME_parsing.png`; in a folder of its own (`parsing_dir`), `NAME.png`."""

MARGIN = 0.05  # free space around the person, as a share of the person's height
MIN_UPPER_SHARE = 0.01  # upper clothes below this share of the person's pixels are parsing noise
SHOULDERS = ("right_shoulder", "left_shoulder")
WHITE = (255, 255, 255)


class PersonRefused(ValueError):
    """A person photo, pose or parsing map that cannot become a dataset person; names the file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class PreparedPerson:
    """A person at the dataset's resolution, ready to be written or used as an avatar."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    labels: np.ndarray  # (H, W) uint8 ACGPN ids
    keypoints: np.ndarray  # (18, 3) float32 COCO-18 (x, y, confidence) in pixels; (0, 0, 0) when missing


def prepare_person(
    *,
    image_path: Path,
    pose_path: Path,
    parsing_path: Path,
    resolution: Resolution,
    parser: str,
    person_index: int | None = None,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> PreparedPerson:
    """Frame, resize and remap one person photo with its pose and parsing map.

    `parser` names the parser that wrote the map (`lip`, `cihp`, `atr`); `person_index` picks a
    person of a pose file with several (None: the file must hold exactly one). Raises PersonRefused
    naming the file and the reason: an unusable image, a parsing map of another size than its photo
    or with ids outside the parser's table, no upper clothes, a pose file that is malformed, holds
    several people without `person_index`, lacks the neck or both shoulders, or lies outside the photo.
    """
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; expected one of {list(PARSERS)}")
    photo = _read_photo(image_path, max_image_pixels)
    labels = _read_parsing(
        parsing_path, parser=parser, shape=photo.shape[:2], max_image_pixels=max_image_pixels
    )
    keypoints = _read_keypoints(pose_path, person_index=person_index, shape=photo.shape[:2])
    frame = person_frame(labels != Label.BACKGROUND, resolution)
    background = labels == Label.BACKGROUND
    fill = tuple(int(v) for v in np.median(photo[background], axis=0)) if background.any() else WHITE
    return PreparedPerson(
        image=resize_photo(crop_frame(photo, frame, fill), resolution),
        labels=resize_labels(crop_frame(labels, frame, Label.BACKGROUND), resolution),
        keypoints=frame_keypoints(keypoints, frame, resolution),
    )


def person_frame(foreground: np.ndarray, resolution: Resolution) -> Frame:
    """The smallest window at the resolution's aspect ratio holding the person with MARGIN around.

    Centred on the person, except where the person is cut by the photo's edge: the window then keeps
    that edge and grows away from it, so a portrait cut at the chest is not padded below the cut.
    Raises ValueError for an empty foreground.
    """
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if rows.size == 0:
        raise ValueError("the parsing map holds no person (background only)")
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    margin = round(MARGIN * (bottom - top))
    aspect = resolution.width / resolution.height
    height = max(bottom - top + 2 * margin, math.ceil((right - left + 2 * margin) / aspect))
    width = round(height * aspect)
    photo_height, photo_width = foreground.shape
    frame_top = _place(top, bottom, height, photo_height)
    frame_left = _place(left, right, width, photo_width)
    return Frame(top=frame_top, left=frame_left, height=height, width=width)


def add_persons(
    src: Path,
    root: Path,
    *,
    phase: str,
    resolution: Resolution,
    parser: str,
    person_index: int | None = None,
    progress: bool = False,
    pose_dir: Path | None = None,
    parsing_dir: Path | None = None,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> ImportReport:
    """Add every person photo (JPEG or PNG) of `src` to the dataset at `root` as person NAME.

    Beside `NAME.jpg` in `src`: `NAME_keypoints.json` (OpenPose's name for it; in `pose_dir` when
    given) and `NAME_parsing.png` (or `NAME.png` in `parsing_dir`, where parsers such as SCHP write
    it). Each person's three files are staged, checked with the validator's own checks, and moved
    into place only when all pass; files that would not change are left alone, so a rerun changes
    nothing. Every photo that cannot be used is refused with its file and reason; the others go on.
    `progress` shows a bar on stderr.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder of person photos")
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r}; expected one of {list(PARSERS)}")
    layout = DatasetLayout(root, phase)
    companions = (PARSING_SUFFIX, POSE_SUFFIX)
    sources, refused = list_photos(src, kind="person", ignore=lambda path: path.name.endswith(companions))
    added: list[Path] = []
    unchanged: list[Path] = []
    Path(root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".add-persons-") as scratch:
        bar = progress_bar(sources, total=len(sources), unit="person", desc="add-persons", enabled=progress)
        for name, path in bar:
            pose_path = Path(pose_dir or src) / f"{name}{POSE_SUFFIX}"
            parsing_path = (
                Path(parsing_dir) / f"{name}.png" if parsing_dir else src / f"{name}{PARSING_SUFFIX}"
            )
            try:
                for companion, what in ((pose_path, "pose file"), (parsing_path, "parsing map")):
                    if not companion.is_file():
                        raise PersonRefused(path, f"no {what}: expected {companion}")
                person = prepare_person(
                    image_path=path,
                    pose_path=pose_path,
                    parsing_path=parsing_path,
                    resolution=resolution,
                    parser=parser,
                    person_index=person_index,
                    max_image_pixels=max_image_pixels,
                )
            except PersonRefused as error:
                refused.append(Problem(error.path, error.reason))
                continue
            targets = (layout.person_image(name), layout.label(name), layout.pose(name))
            arrays = (person.image, person.labels, person.keypoints)
            writers = (write_rgb, write_label, write_pose)
            staged = [stage(Path(scratch), *item) for item in zip(targets, arrays, writers, strict=True)]
            image, label, pose = staged
            problems = check_person_files(
                image=image, label=label, pose=pose, resolution=resolution, max_image_pixels=max_image_pixels
            )
            if problems:
                refused.extend(
                    Problem(path, f"the imported files fail validation: {p.reason}") for p in problems
                )
                continue
            changed = [install(file, target) for file, target in zip(staged, targets, strict=True)]
            (added if any(changed) else unchanged).append(layout.person_image(name))
    return ImportReport(
        added=tuple(added),
        unchanged=tuple(unchanged),
        refused=tuple(sorted(refused, key=lambda p: p.path)),
        what="persons",
    )


def _read_photo(path: Path, max_image_pixels: int) -> np.ndarray:
    try:
        image = decode_image(path, max_image_pixels=max_image_pixels)
    except UnusableImage as error:
        raise PersonRefused(path, str(error)) from None
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _read_parsing(path: Path, *, parser: str, shape: tuple[int, int], max_image_pixels: int) -> np.ndarray:
    """The parsing map in ACGPN ids; refused unless it is single-channel, photo-sized, in the parser's
    table and shows upper clothes."""
    try:
        labels = read_parser_map(path, parser=parser, max_image_pixels=max_image_pixels)
    except (UnusableImage, ParsingRefused) as error:
        raise PersonRefused(path, str(error)) from None
    if labels.shape != shape:
        raise PersonRefused(
            path,
            f"parsing map is {labels.shape[0]}x{labels.shape[1]} but its photo is {shape[0]}x{shape[1]} "
            "(HxW); run the parser on this photo at its own size",
        )
    person = labels != Label.BACKGROUND
    upper = labels == Label.UPPER_CLOTHES
    if not person.any() or upper.sum() < MIN_UPPER_SHARE * person.sum():
        raise PersonRefused(
            path,
            f"no upper body: under {MIN_UPPER_SHARE:.0%} of the person is upper clothes "
            f"({parser} classes that become ACGPN upper clothes); a try-on replaces the top, so the "
            "photo must show one",
        )
    return labels


def _read_keypoints(path: Path, *, person_index: int | None, shape: tuple[int, int]) -> np.ndarray:
    """COCO-18 keypoints of the chosen person; refused without the neck and a shoulder, or outside the photo."""
    try:
        keypoints = read_pose(path, person_index=person_index)
    except PoseFormatError as error:
        reason = str(error).removeprefix(f"{path}: ")
        if "people detected" in reason:
            reason += " (--person-index)"
        raise PersonRefused(path, reason) from None
    missing = [name for name in ("neck", *SHOULDERS) if keypoints[KEYPOINT[name], 2] <= 0]
    if "neck" in missing or all(name in missing for name in SHOULDERS):
        raise PersonRefused(
            path,
            f"pose has no {' or '.join(missing)}: the garment is placed from the neck and shoulders; "
            "use a photo where they are visible",
        )
    height, width = shape
    x, y, confidence = keypoints.T
    outside = (confidence > 0) & ((x < 0) | (x >= width) | (y < 0) | (y >= height))
    if outside.any():
        raise PersonRefused(
            path,
            f"keypoints {[POSE_KEYPOINTS[k] for k in np.flatnonzero(outside)]} lie outside the "
            f"{height}x{width} photo; write the pose in pixels of this photo (OpenPose --keypoint_scale 0)",
        )
    return keypoints


def _place(start: int, stop: int, size: int, limit: int) -> int:
    """Where a window of `size` around [start, stop) begins on an axis of the photo of length `limit`."""
    begin = round((start + stop - size) / 2)
    cut_before, cut_after = start == 0, stop == limit
    if cut_after and not cut_before and begin + size > limit:
        return limit - size
    if cut_before and not cut_after and begin < 0:
        return 0
    return begin
