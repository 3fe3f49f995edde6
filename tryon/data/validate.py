"""Check a dataset root against the folder contract (tryon.data.layout) before anything uses it.

`validate_dataset` decodes every image once, through the same guarded decoder as every other image
read in tryon.data (`tryon.data.images.decode_image`), reports every problem with its file and
reason, never stops at the first one and never modifies anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from tryon.config import DataConfig, Resolution
from tryon.data.images import UnusableImage, decode_image
from tryon.data.layout import (
    IMAGE_SUFFIX,
    LABEL_SUFFIX,
    MASK_THRESHOLD,
    PHASES,
    POSE_SUFFIX,
    DatasetLayout,
    Pair,
    PoseFormatError,
    parse_pair_line,
    read_pairs,
    read_pose,
)
from tryon.labels import POSE_KEYPOINTS, VALID_IDS

# A garment mask pixel is mid-grey when it is neither near black nor near white.
MID_GREY = (32, 224)
# JPEG codes 8x8 blocks independently, so the ringing around a sharp edge stays inside the blocks the
# edge crosses: every mid-grey pixel of a JPEG-compressed binary mask lies within 7 px of the edge,
# plus 1 px for where thresholding puts that edge. Mid-grey pixels further away are not compression
# noise: the mask is soft (blurred, a probability map) or not a mask at all (a photo). The bound does
# not depend on the resolution or the garment's size, unlike a share of all pixels would.
JPEG_BLOCK = 8
STRAY_GREY_TOLERANCE = 0.01  # share of pixels; absorbs specks and thin straps that thresholding drops
# Where edges are everywhere (a texture or noise thresholded into specks) the test above sees nothing
# stray, so the mid-grey share is also capped: even at JPEG quality 10 and 64x48, the ringing of a
# binary mask covers about 6% of the pixels.
MAX_GREY_SHARE = 0.2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file; `str(problem)` reads `PATH: reason`."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ValidationReport:
    """What `validate_dataset` found. Counts are totals over `phases`; `phase_pairs` is per phase."""

    root: Path
    phases: tuple[str, ...]
    n_pairs: int
    n_persons: int
    n_garments: int
    problems: tuple[Problem, ...]
    resolution: Resolution
    phase_pairs: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line, e.g. `data: valid, train 64 pairs at 256x192` or `data: 3 problems in 2 files`."""
        if self.ok:
            counts = ", ".join(
                f"{phase} {_count(n, 'pair')}" for phase, n in zip(self.phases, self.phase_pairs, strict=True)
            )
            return f"{self.root}: valid, {counts} at {self.resolution}"
        n_files = len({problem.path for problem in self.problems})
        return f"{self.root}: {_count(len(self.problems), 'problem')} in {_count(n_files, 'file')}"


def validate_dataset(
    root: Path,
    *,
    resolution: Resolution,
    phases: Sequence[str] | None = None,
    max_image_pixels: int = DataConfig.max_image_pixels,
) -> ValidationReport:
    """Check every file of a dataset root against the folder contract and report every problem.

    `phases=None` checks each phase whose `{phase}_img` folder exists; a root without any is itself
    a problem. Raises ValueError only for a phase name outside tryon.data.layout.PHASES.
    """
    root = Path(root)
    if phases is None:
        layouts = [layout for layout in (DatasetLayout(root, p) for p in PHASES) if layout.image_dir.is_dir()]
    else:
        layouts = [DatasetLayout(root, phase) for phase in dict.fromkeys(phases)]  # raises for unknown names
    problems: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem(root, "no such folder; point data.root at a dataset root"))
        layouts = []
    elif not layouts:
        folders = " or ".join(f"{phase}_img/" for phase in PHASES)
        problems.append(Problem(root, f"no {folders} folder: not a dataset root (see tryon.data.layout)"))
    counts = []
    for layout in layouts:
        check = _PhaseCheck(layout, resolution, max_image_pixels)
        counts.append(check.run())
        problems.extend(check.problems)
    return ValidationReport(
        root=root,
        phases=tuple(layout.phase for layout in layouts),
        n_pairs=sum(count.pairs for count in counts),
        n_persons=sum(count.persons for count in counts),
        n_garments=sum(count.garments for count in counts),
        problems=tuple(problems),
        resolution=resolution,
        phase_pairs=tuple(count.pairs for count in counts),
    )


def check_person_files(
    *, image: Path, label: Path, pose: Path, resolution: Resolution, max_image_pixels: int = DataConfig.max_image_pixels
) -> list[Problem]:
    """The validator's checks of one person's image, parsing map and pose file, wherever they lie.

    Imports run them on what they staged, before anything enters the dataset.
    """
    check = _PhaseCheck(DatasetLayout(image.parent), resolution, max_image_pixels)
    check.check_rgb(image)
    check.check_label(label)
    check.check_pose(pose)
    return check.problems


class _Counts(NamedTuple):
    pairs: int
    persons: int
    garments: int


@dataclass
class _PhaseCheck:
    """The checks of one phase; each step appends to `problems` and goes on."""

    layout: DatasetLayout
    resolution: Resolution
    max_image_pixels: int
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: Path, reason: str) -> None:
        self.problems.append(Problem(path, reason))

    def run(self) -> _Counts:
        layout = self.layout
        persons = self.folder(layout.image_dir, IMAGE_SUFFIX, required=True)
        labels = self.folder(layout.label_dir, LABEL_SUFFIX, required=True)
        poses = self.folder(layout.pose_dir, POSE_SUFFIX, required=True)
        garments = self.folder(layout.garment_dir, IMAGE_SUFFIX, required=True)
        masks = self.folder(layout.garment_mask_dir, IMAGE_SUFFIX, required=True)

        self.partners(persons, labels, "parsing map", layout.label)
        self.partners(persons, poses, "pose file", layout.pose)
        self.partners(labels, persons, "person image", layout.person_image)
        self.partners(poses, persons, "person image", layout.person_image)
        self.partners(garments, masks, "garment mask", layout.garment_mask)
        self.partners(masks, garments, "garment image", layout.garment)

        for path in _files(persons):
            self.check_rgb(path)
        for path in _files(labels):
            self.check_label(path)
        for path in _files(poses):
            self.check_pose(path)
        for path in _files(garments):
            self.check_rgb(path)
        for path in _files(masks):
            self.check_garment_mask(path)

        n_pairs = self.pairs(persons or {}, garments or {})
        self.unpaired(persons or {}, garments or {})
        return _Counts(pairs=n_pairs, persons=len(persons or {}), garments=len(garments or {}))

    def folder(self, directory: Path, suffix: str, *, required: bool) -> dict[str, Path] | None:
        """The folder's files by stem, None when it is missing; reports stray and clashing names."""
        if not directory.is_dir():
            if required:
                self.report(directory, f"missing folder: every {self.layout.phase} dataset needs it")
            return None
        files, problems = _list_folder(directory, suffix)
        self.problems.extend(problems)
        return files

    def partners(
        self,
        files: dict[str, Path] | None,
        partners: dict[str, Path] | None,
        what: str,
        expected: Callable[[str], Path],
    ) -> None:
        """Report each file whose partner is missing; a missing partner folder is reported once already."""
        if files is None or partners is None:
            return
        for stem, path in files.items():
            if stem not in partners:
                self.report(path, f"no {what}: expected {expected(stem)}; add it or remove this file")

    def decode(self, path: Path) -> Image.Image | None:
        try:
            return decode_image(path, max_image_pixels=self.max_image_pixels)
        except UnusableImage as error:
            self.report(path, str(error))
            return None

    def check_size(self, path: Path, image: Image.Image) -> None:
        if (image.height, image.width) != self.resolution.shape:
            self.report(
                path,
                f"size {image.height}x{image.width}, expected {self.resolution} (HxW, data.resolution); "
                "resize it or validate at its resolution",
            )

    def check_rgb(self, path: Path) -> None:
        image = self.decode(path)
        if image is not None:
            self.check_size(path, image)

    def check_label(self, path: Path) -> None:
        image = self.decode(path)
        if image is None:
            return
        self.check_size(path, image)
        if image.mode not in ("L", "P"):
            self.report(
                path,
                f"mode {image.mode} ({'+'.join(image.getbands())}); a parsing map is an 8-bit "
                "single-channel image (mode L or P) holding one ACGPN id per pixel",
            )
            return
        present = np.flatnonzero(np.bincount(np.asarray(image).ravel(), minlength=256))
        bad = sorted(set(present.tolist()) - VALID_IDS)
        if bad:
            self.report(
                path,
                f"label ids {bad} are outside ACGPN's table {sorted(VALID_IDS)}; "
                "remap the parser's output with tryon.labels.remap_parsing",
            )

    def check_pose(self, path: Path) -> None:
        try:
            keypoints = read_pose(path)
        except PoseFormatError as error:
            self.report(path, _without_prefix(str(error), path))
            return
        x, y, confidence = keypoints.T
        height, width = self.resolution.shape
        outside = (confidence > 0) & ((x < 0) | (x >= width) | (y < 0) | (y >= height))
        if outside.any():
            names = [POSE_KEYPOINTS[k] for k in np.flatnonzero(outside)]
            self.report(
                path,
                f"keypoints {names} lie outside the {self.resolution} image; "
                "was the pose computed at another resolution?",
            )

    def check_garment_mask(self, path: Path) -> None:
        image = self.decode(path)
        if image is None:
            return
        self.check_size(path, image)
        reason = _mask_problem(np.asarray(image.convert("L")))
        if reason:
            self.report(path, reason)

    def pair_lines(self, path: Path, *, one_per_person: bool) -> list[tuple[int, Pair]]:
        """The distinct, well-formed lines of a pairs file, reporting every malformed or repeated one.

        A person may appear in any number of pairs (one avatar, many garments), and a garment too;
        a line repeating an earlier one is reported. `one_per_person` is for the unpaired list, which
        names the one garment of each person's single unpaired ground-truth image.
        """
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            self.report(path, f"not readable as UTF-8 text ({error})")
            return []
        pairs: dict[tuple[str, str], tuple[int, Pair]] = {}
        persons: dict[str, tuple[int, Pair]] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                pair = parse_pair_line(line)
            except ValueError as error:
                self.report(path, f"line {number}: {error}")
                continue
            if pair is None:
                continue
            key = (pair.person_stem.casefold(), Path(pair.garment).stem.casefold())
            if key in pairs:
                self.report(path, f"line {number}: repeats line {pairs[key][0]}; remove it")
            elif one_per_person and pair.person_stem in persons:
                first, first_pair = persons[pair.person_stem]
                self.report(
                    path,
                    f"line {number}: person {pair.person} is listed again (line {first} names "
                    f"{first_pair.garment}); each person has one unpaired ground truth, keep one line",
                )
            else:
                pairs[key] = (number, pair)
                persons.setdefault(pair.person_stem, (number, pair))
        return list(pairs.values())

    def pairs(self, persons: dict[str, Path], garments: dict[str, Path]) -> int:
        """Check the pairs file (or sorted pairing when there is none); returns the number of pairs."""
        layout = self.layout
        if not layout.pairs_file.exists():
            try:
                return len(read_pairs(layout))
            except ValueError as error:
                self.report(layout.root, _without_prefix(str(error), layout.root))
                return 0
        lines = self.pair_lines(layout.pairs_file, one_per_person=False)
        for number, pair in lines:
            self.check_named(layout.pairs_file, number, pair, persons, garments)
        return len(lines)

    def check_named(
        self, path: Path, number: int, pair: Pair, persons: dict[str, Path], garments: dict[str, Path]
    ) -> None:
        """Report a pairs line whose person or garment has no file."""
        if pair.person_stem not in persons:
            expected = self.layout.person_image(pair.person)
            self.report(path, f"line {number}: person {pair.person} has no image {expected}")
        if Path(pair.garment).stem not in garments:
            expected = self.layout.garment(pair.garment)
            self.report(path, f"line {number}: garment {pair.garment} has no image {expected}")

    def unpaired(self, persons: dict[str, Path], garments: dict[str, Path]) -> None:
        """Synthetic data: each unpaired ground-truth image is readable, sized and listed with its garment."""
        layout = self.layout
        truths = self.folder(layout.unpaired_gt_dir, IMAGE_SUFFIX, required=False)
        listed = layout.unpaired_file.exists()
        if truths is None and not listed:
            return
        if truths is None:
            self.report(
                layout.unpaired_gt_dir, f"missing folder: {layout.unpaired_file.name} names images in it"
            )
            truths = {}
        for path in truths.values():
            self.check_rgb(path)
        if not listed:
            self.report(
                layout.unpaired_file,
                f"missing: {layout.unpaired_gt_dir.name}/ holds images but nothing names their garments",
            )
            return
        named = set()
        for number, pair in self.pair_lines(layout.unpaired_file, one_per_person=True):
            named.add(pair.person_stem)
            self.check_named(layout.unpaired_file, number, pair, persons, garments)
            if pair.person_stem not in truths:
                self.report(
                    layout.unpaired_file,
                    f"line {number}: no ground-truth image {layout.unpaired_gt(pair.person)}",
                )
        for stem, path in truths.items():
            if stem not in named:
                self.report(path, f"not listed in {layout.unpaired_file.name}; add a line naming its garment")


def _list_folder(directory: Path, suffix: str) -> tuple[dict[str, Path], list[Problem]]:
    """Map stem -> path for the files named `STEM{suffix}`; report any other file and clashing names.

    Names clash when they differ only by extension or case: loaders pick one of them arbitrarily,
    and case-insensitive file systems (macOS, Windows checkouts) merge them.
    """
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    # Files with the expected suffix first, so that the stray one of a clashing pair is the one named.
    entries = sorted(
        (path for path in directory.iterdir() if path.is_file() and not path.name.startswith(".")),
        key=lambda path: (not path.name.endswith(suffix), path.name),
    )
    for path in entries:
        matches = path.name.endswith(suffix)
        stem = path.name[: -len(suffix)] if matches else path.stem
        first = seen.setdefault(stem.casefold(), path)
        if first != path:
            reason = f"clashes with {first.name}: names must differ beyond extension and case; rename one"
            problems.append(Problem(path, reason))
        elif not matches:
            reason = f"unexpected file: {directory.name}/ holds NAME{suffix} files only; convert or remove it"
            problems.append(Problem(path, reason))
        if matches:  # loaders read it whatever it clashes with, so its partners are checked too
            files[stem] = path
    return files, problems


def _mask_problem(gray: np.ndarray) -> str | None:
    """Why a greyscale garment mask is unusable (empty, or not binary beyond JPEG noise), or None."""
    garment = (gray >= MASK_THRESHOLD).astype(np.uint8)
    if not garment.any():
        return f"empty mask: no pixel reaches {MASK_THRESHOLD}; the garment must be white (255) on black (0)"
    grey = (gray >= MID_GREY[0]) & (gray < MID_GREY[1])
    edge = cv2.morphologyEx(garment, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    near_edge = cv2.dilate(edge, np.ones((2 * JPEG_BLOCK + 1,) * 2, np.uint8)).astype(bool)
    stray_share, grey_share = float((grey & ~near_edge).mean()), float(grey.mean())
    if stray_share <= STRAY_GREY_TOLERANCE and grey_share <= MAX_GREY_SHARE:
        return None
    return (
        f"not binary: {grey_share:.1%} of pixels are mid-grey ({MID_GREY[0]}..{MID_GREY[1] - 1}), "
        f"{stray_share:.1%} more than {JPEG_BLOCK} px from the mask's edge, which JPEG noise cannot "
        "explain; save a black and white (0/255) mask"
    )


def _files(listing: dict[str, Path] | None) -> list[Path]:
    return list((listing or {}).values())


def _without_prefix(message: str, path: Path) -> str:
    """Drop the `PATH: ` that layout errors start with, since Problem prints the path itself."""
    prefix = f"{path}: "
    return message.removeprefix(prefix)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
