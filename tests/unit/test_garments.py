"""Garment import: the mask of a laydown photo, its preparation, refusals and idempotent re-runs."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tryon.config import Resolution
from tryon.data.garments import GarmentError, add_garments, garment_mask, prepare_garment
from tryon.data.layout import DatasetLayout, read_mask, read_rgb
from tryon.data.validate import validate_dataset

PHOTO_SHAPE = (900, 700)
RESOLUTION = Resolution(64, 48)
OFF_WHITE = (238, 235, 228)
LIGHT_GREY = (214, 214, 212)


def tshirt_silhouette(shape: tuple[int, int] = PHOTO_SHAPE) -> np.ndarray:
    """The known (H, W) bool silhouette of a t-shirt: body, two sleeves and a neckline notch."""
    height, width = shape
    points = np.array(
        [
            (0.38, 0.15), (0.45, 0.19), (0.55, 0.19), (0.62, 0.15),  # collar with its notch
            (0.85, 0.25), (0.80, 0.40), (0.70, 0.35),  # right sleeve
            (0.70, 0.85), (0.30, 0.85),  # hem
            (0.30, 0.35), (0.20, 0.40), (0.15, 0.25),  # left sleeve
        ]
    ) * (width, height)
    silhouette = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(silhouette, [points.round().astype(np.int32)], 1)
    return silhouette.astype(bool)


def laydown_photo(
    silhouette: np.ndarray, *, backdrop: tuple[int, int, int] = OFF_WHITE, seed: int = 0
) -> np.ndarray:
    """A striped garment with a logo holding white-ish parts, on a noisy backdrop, through JPEG."""
    rng = np.random.default_rng(seed)
    height, width = silhouette.shape
    photo = np.empty((height, width, 3), dtype=np.float64)
    photo[:] = backdrop
    stripes = (np.arange(height)[:, None] // 24 % 2).astype(bool) & np.ones((1, width), dtype=bool)
    garment = np.where(stripes[..., None], (30, 50, 140), (180, 40, 50))
    photo[silhouette] = garment[silhouette]
    centre = (width // 2, int(height * 0.45))
    logo = np.zeros((height, width), dtype=np.uint8)
    cv2.circle(logo, centre, 80, 1, thickness=-1)
    photo[logo.astype(bool)] = (245, 244, 240)  # white-ish disc: a hole the mask must fill
    cv2.circle(logo, centre, 40, 2, thickness=-1)
    photo[logo == 2] = (20, 120, 60)
    photo += rng.normal(0.0, 4.0, photo.shape)
    buffer = io.BytesIO()
    Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(buffer).convert("RGB"))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("backdrop", [OFF_WHITE, LIGHT_GREY], ids=["off-white", "light-grey"])
def test_mask_matches_the_known_silhouette_with_holes_filled(backdrop: tuple[int, int, int]) -> None:
    silhouette = tshirt_silhouette()
    mask = garment_mask(laydown_photo(silhouette, backdrop=backdrop))
    assert mask.shape == silhouette.shape and mask.dtype == bool
    assert iou(mask, silhouette) > 0.95
    assert mask[int(PHOTO_SHAPE[0] * 0.45), PHOTO_SHAPE[1] // 2 - 60]  # inside the white-ish logo ring


def test_blank_photo_gives_an_empty_mask() -> None:
    assert not garment_mask(np.full((120, 90, 3), 250, dtype=np.uint8)).any()


def test_prepare_centres_the_garment_on_white_at_the_resolution() -> None:
    resolution = Resolution(256, 192)
    image, mask = prepare_garment(laydown_photo(tshirt_silhouette()), resolution=resolution)
    assert image.shape == (256, 192, 3) and image.dtype == np.uint8
    assert mask.shape == (256, 192) and mask.dtype == bool
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert abs((rows[0] + rows[-1]) / 2 - 255 / 2) <= 1
    assert abs((cols[0] + cols[-1]) / 2 - 191 / 2) <= 1
    # Fits within the margin and touches it along its limiting side.
    assert rows[-1] - rows[0] + 1 <= 0.9 * 256 + 1 and cols[-1] - cols[0] + 1 <= 0.9 * 192 + 1
    assert max((rows[-1] - rows[0] + 1) / 256, (cols[-1] - cols[0] + 1) / 192) > 0.85
    assert (image[~mask] == 255).all()
    assert image[mask].mean() < 200  # the garment itself is kept, not whitened


def test_prepare_is_deterministic() -> None:
    photo = laydown_photo(tshirt_silhouette())
    first = prepare_garment(photo, resolution=RESOLUTION)
    second = prepare_garment(photo, resolution=RESOLUTION)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_prepare_rejects_a_photo_without_a_white_background() -> None:
    texture = np.random.default_rng(1).integers(0, 160, (300, 200, 3), dtype=np.uint8)
    with pytest.raises(GarmentError, match="no white background"):
        prepare_garment(texture, resolution=RESOLUTION)


def save_photo(path: Path, photo: np.ndarray) -> Path:
    Image.fromarray(photo).save(path)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder of laydown photos: two usable t-shirts, one PNG, at different sizes."""
    folder = tmp_path / "photos"
    folder.mkdir()
    save_photo(folder / "tee.jpg", laydown_photo(tshirt_silhouette()))
    grey = laydown_photo(tshirt_silhouette((600, 500)), backdrop=LIGHT_GREY, seed=1)
    save_photo(folder / "tee_grey.png", grey)
    return folder


def test_add_garments_writes_image_and_mask_pairs(photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    report = add_garments(photos, root, resolution=RESOLUTION)
    layout = DatasetLayout(root, "train")
    assert report.added == (layout.garment("tee"), layout.garment("tee_grey"))
    assert report.unchanged == () and report.refused == ()
    assert report.summary() == "garments: 2 added, 0 unchanged, 0 refused"
    for name in ("tee", "tee_grey"):
        assert read_rgb(layout.garment(name)).shape == (*RESOLUTION.shape, 3)
        assert read_mask(layout.garment_mask(name)).shape == RESOLUTION.shape
    assert not [path for path in root.iterdir() if path.name.startswith(".")]  # no staging left behind


@pytest.mark.parametrize("resolution", [RESOLUTION, Resolution(256, 192)], ids=str)
def test_imported_garments_pass_the_validator(resolution: Resolution, photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    add_garments(photos, root, resolution=resolution)
    report = validate_dataset(root, resolution=resolution, phases=["train"])
    layout = DatasetLayout(root, "train")
    garment_dirs = (layout.garment_dir, layout.garment_mask_dir)
    assert [problem for problem in report.problems if problem.path.parent in garment_dirs] == []
    assert report.n_garments == 2


def test_rerun_changes_nothing(photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    add_garments(photos, root, resolution=RESOLUTION)
    before = tree_state(root)
    report = add_garments(photos, root, resolution=RESOLUTION)
    assert report.added == () and len(report.unchanged) == 2
    assert tree_state(root) == before


def tree_state(root: Path) -> dict[Path, tuple[int, bytes]]:
    """Modification time and content of every file under `root`."""
    return {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in root.rglob("*") if path.is_file()}


def test_a_changed_photo_is_rewritten(photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    add_garments(photos, root, resolution=RESOLUTION)
    save_photo(photos / "tee.jpg", laydown_photo(tshirt_silhouette(), backdrop=LIGHT_GREY, seed=5))
    report = add_garments(photos, root, resolution=RESOLUTION)
    layout = DatasetLayout(root, "train")
    assert report.added == (layout.garment("tee"),)
    assert report.unchanged == (layout.garment("tee_grey"),)


def test_transparent_and_rotated_photos_are_read_as_shown(photos: Path, tmp_path: Path) -> None:
    silhouette = tshirt_silhouette((600, 500))
    cutout = np.zeros((*silhouette.shape, 4), dtype=np.uint8)  # transparent black around the garment
    cutout[silhouette] = (40, 60, 150, 255)
    Image.fromarray(cutout).save(photos / "cutout.png")
    sideways = Image.fromarray(laydown_photo(silhouette)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    sideways.save(photos / "sideways.jpg", exif=exif)

    report = add_garments(photos, tmp_path / "data", resolution=RESOLUTION)
    layout = DatasetLayout(tmp_path / "data", "train")
    assert report.refused == ()
    upright = read_mask(layout.garment_mask("tee"))
    for name in ("cutout", "sideways"):
        assert iou(read_mask(layout.garment_mask(name)), upright) > 0.8


REFUSALS = {
    "blank.jpg": (lambda path: save_photo(path, np.full((400, 300, 3), 247, np.uint8)), "no garment found"),
    "fabric.jpg": (
        lambda path: save_photo(path, np.random.default_rng(2).integers(0, 150, (400, 300, 3), np.uint8)),
        "no white background",
    ),
    "garbage.jpg": (lambda path: path.write_bytes(b"\xff\xd8 definitely not a JPEG"), "not an image"),
    "truncated.jpg": (
        lambda path: path.write_bytes(_jpeg_bytes(laydown_photo(tshirt_silhouette()))[:5000]),
        "truncated",
    ),
    "notes.txt": (lambda path: path.write_text("garment list"), "not a photo"),
    "two words.jpg": (lambda path: save_photo(path, laydown_photo(tshirt_silhouette())), "whitespace"),
}


def _jpeg_bytes(photo: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_name_the_file_and_the_reason(name: str, photos: Path, tmp_path: Path) -> None:
    make, reason = REFUSALS[name]
    make(photos / name)
    report = add_garments(photos, tmp_path / "data", resolution=RESOLUTION)
    assert [(problem.path, reason in problem.reason) for problem in report.refused] == [(photos / name, True)]
    assert len(report.added) == 2  # the usable photos still go in
    assert not DatasetLayout(tmp_path / "data", "train").garment(Path(name).stem).exists()


def test_photos_that_would_share_a_name_are_all_refused(photos: Path, tmp_path: Path) -> None:
    save_photo(photos / "tee.png", laydown_photo(tshirt_silhouette(), seed=3))
    report = add_garments(photos, tmp_path / "data", resolution=RESOLUTION)
    assert {problem.path for problem in report.refused} == {photos / "tee.jpg", photos / "tee.png"}
    assert all("rename" in problem.reason for problem in report.refused)


def test_too_many_pixels_are_refused_before_decoding(photos: Path, tmp_path: Path) -> None:
    report = add_garments(photos, tmp_path / "data", resolution=RESOLUTION, max_image_pixels=100_000)
    assert len(report.refused) == 2
    assert all("decompression bomb" in problem.reason for problem in report.refused)
