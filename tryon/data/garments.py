"""Import laydown garment photos: find the garment, centre it on white at the dataset's size, add it.

A data team drops product photos of any size (garment laid flat on a white or near-white backdrop)
into a folder; `add_garments` writes `{phase}_color/NAME.jpg` and `{phase}_edge/NAME.jpg` for each,
refuses what it cannot use with a reason, and leaves files that would not change untouched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from tryon.config import DataConfig, Resolution
from tryon.data.images import UnusableImage, decode_image
from tryon.data.importing import ImportReport, install, list_photos, stage
from tryon.data.layout import MASK_THRESHOLD, DatasetLayout, write_mask, write_rgb
from tryon.data.validate import Problem
from tryon.progress import progress_bar

WHITE = 255

# The background is measured on the photo's border; a pixel is garment when it is darker or more
# colourful than the background by more than the background's own noise allows.
BORDER_SHARE = 0.02  # border strip width, as a share of the shorter side
MIN_CONTRAST = 20  # grey levels; below this a difference is JPEG noise or uneven lighting
NOISE_SIGMAS = 6  # contrast also exceeds this many noise standard deviations of the background
MIN_PAPER_BRIGHTNESS = 200  # a backdrop darker than this is not white: compare against this instead
MAX_PAPER_CHROMA = 40  # a backdrop more colourful than this is not white either
KERNEL_SHARE = 0.006  # morphology kernel side, as a share of the shorter side

FILL = 0.9  # the garment's bounding box fills at most 90% of the frame's height and width
MIN_GARMENT_SHARE = 0.005  # below this share of the photo, what stands out is a speck, not a garment
MAX_GARMENT_SHARE = 0.9  # above it there is no white background around the garment


class GarmentError(ValueError):
    """A photo that shows no usable garment on a white background."""


def garment_mask(photo: np.ndarray) -> np.ndarray:
    """Segment the garment of an (H, W, 3) uint8 RGB laydown photo on a white or near-white backdrop.

    The backdrop's level and noise are read from the photo's border, so an off-white or light grey
    backdrop and JPEG noise do not leak into the mask. Small specks are opened away, small gaps
    closed, the largest region kept and its holes (white prints, logos) filled.
    Returns an (H, W) bool array, all False when nothing stands out from the backdrop.
    """
    photo = _as_rgb(photo)
    smooth = cv2.GaussianBlur(photo, (5, 5), 0).astype(np.int16)
    brightness = smooth.min(axis=2)  # white needs every channel high
    chroma = smooth.max(axis=2) - brightness
    border = _border(photo.shape[:2])
    paper, paper_noise = _level_and_noise(brightness[border])
    tint, tint_noise = _level_and_noise(chroma[border])
    # Clamping the backdrop to white makes a photo without a white backdrop read as all garment,
    # which prepare_garment then refuses, instead of segmenting it against its own colour.
    darker = brightness < max(paper, MIN_PAPER_BRIGHTNESS) - _contrast(paper_noise)
    colourful = chroma > min(tint, MAX_PAPER_CHROMA) + _contrast(tint_noise)
    found = (darker | colourful).astype(np.uint8)

    side = max(3, int(min(photo.shape[:2]) * KERNEL_SHARE) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    found = cv2.morphologyEx(found, cv2.MORPH_OPEN, kernel)
    found = cv2.morphologyEx(found, cv2.MORPH_CLOSE, kernel)
    return _fill_holes(_largest_region(found)).astype(bool)


def prepare_garment(photo: np.ndarray, *, resolution: Resolution) -> tuple[np.ndarray, np.ndarray]:
    """Cut the garment out of a laydown photo and centre it on white at `resolution`.

    The garment's bounding box is scaled, keeping its aspect ratio, to fill at most FILL of the
    frame; pixels outside the mask are white. Returns the (H, W, 3) uint8 image and the (H, W) bool
    mask. Raises GarmentError when the photo shows no garment or no white background around it.
    """
    photo = _as_rgb(photo)
    mask = garment_mask(photo)
    _check_coverage(mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop_mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = photo[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
    crop[~crop_mask] = WHITE  # so that resizing blends the garment's edge with white, not the backdrop

    height, width = crop_mask.shape
    scale = min(FILL * resolution.height / height, FILL * resolution.width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # OpenCV wants (width, height)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, size, interpolation=interpolation)
    small_mask = cv2.resize(crop_mask.astype(np.uint8) * WHITE, size, interpolation=interpolation)

    image = np.full((*resolution.shape, 3), WHITE, dtype=np.uint8)
    garment = np.zeros(resolution.shape, dtype=bool)
    top, left = (resolution.height - size[1]) // 2, (resolution.width - size[0]) // 2
    image[top : top + size[1], left : left + size[0]] = small
    garment[top : top + size[1], left : left + size[0]] = small_mask >= MASK_THRESHOLD
    image[~garment] = WHITE
    return image, garment


def add_garments(
    src_dir: Path,
    root: Path,
    *,
    phase: str = "train",
    resolution: Resolution,
    max_image_pixels: int = DataConfig.max_image_pixels,
    progress: bool = False,
) -> ImportReport:
    """Add every laydown photo (JPEG or PNG) of `src_dir` to the dataset at `root` as garment NAME.

    Writes `{phase}_color/NAME.jpg` and `{phase}_edge/NAME.jpg` atomically. Output is deterministic,
    and a file whose new content equals the old is not rewritten, so running it again on the same
    folder changes nothing. Every file it cannot use is refused with its reason; the others go on.
    `progress` shows a bar on stderr.
    """
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise FileNotFoundError(f"{src_dir}: no such folder of garment photos")
    layout = DatasetLayout(root, phase)
    sources, refused = list_photos(src_dir, kind="garment")
    added: list[Path] = []
    unchanged: list[Path] = []
    for directory in (layout.garment_dir, layout.garment_mask_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # Staged beside the dataset, on the same file system, so that moving a file into place is atomic.
    with tempfile.TemporaryDirectory(dir=layout.root, prefix=".add-garments-") as scratch:
        bar = progress_bar(sources, total=len(sources), unit="garment", desc="add-garments", enabled=progress)
        for name, path in bar:
            try:
                photo = as_shown_on_white(decode_image(path, max_image_pixels=max_image_pixels))
                image, mask = prepare_garment(photo, resolution=resolution)
            except (UnusableImage, GarmentError) as error:
                refused.append(Problem(path, str(error)))
                continue
            files = {
                layout.garment(name): stage(Path(scratch), layout.garment(name), image, write_rgb),
                layout.garment_mask(name): stage(Path(scratch), layout.garment_mask(name), mask, write_mask),
            }
            changed = [install(staged, target) for target, staged in files.items()]
            (added if any(changed) else unchanged).append(layout.garment(name))
    return ImportReport(
        added=tuple(added), unchanged=tuple(unchanged), refused=tuple(sorted(refused, key=lambda p: p.path))
    )


def as_shown_on_white(image: Image.Image) -> np.ndarray:
    """The photo as a viewer shows it, as RGB: EXIF rotation applied, transparency over white.

    Cameras store portrait shots sideways with an orientation tag, and product PNGs are often cut
    out on a transparent background, whose hidden colour is usually black.
    """
    image = ImageOps.exif_transpose(image)
    if image.has_transparency_data:
        backdrop = Image.new("RGBA", image.size, (WHITE, WHITE, WHITE, WHITE))
        image = Image.alpha_composite(backdrop, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def _check_coverage(mask: np.ndarray) -> None:
    share = float(mask.mean())
    if share < MIN_GARMENT_SHARE:
        raise GarmentError(
            f"no garment found: only {share:.1%} of the photo stands out from the white background; "
            "photograph the garment laid flat on white, filling most of the frame"
        )
    if share > MAX_GARMENT_SHARE:
        raise GarmentError(
            f"the garment covers {share:.0%} of the photo: no white background around it; "
            "photograph it on white with some margin"
        )


def _as_rgb(photo: np.ndarray) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB photo, got {photo.shape} {photo.dtype}")
    return photo


def _border(shape: tuple[int, int]) -> np.ndarray:
    """A bool mask of the photo's outer strip, where a laydown photo shows only the backdrop."""
    width = max(2, round(min(shape) * BORDER_SHARE))
    border = np.ones(shape, dtype=bool)
    border[width:-width, width:-width] = False
    return border


def _level_and_noise(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (scaled median absolute deviation) of `values`."""
    level = float(np.median(values))
    return level, 1.4826 * float(np.median(np.abs(values - level)))


def _contrast(noise: float) -> float:
    return max(MIN_CONTRAST, NOISE_SIGMAS * noise)


def _largest_region(found: np.ndarray) -> np.ndarray:
    count, regions, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    if count <= 1:  # region 0 is the background
        return np.zeros_like(found)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (regions == largest).astype(np.uint8)


def _fill_holes(region: np.ndarray) -> np.ndarray:
    """Fill everything inside the region's outer contour: white prints and logos are garment too."""
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(region)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled
