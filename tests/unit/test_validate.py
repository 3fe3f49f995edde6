"""The dataset validator: a valid dataset passes, and every kind of defect is reported with its file."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from tryon.config import Resolution
from tryon.data.layout import (
    DatasetLayout,
    Pair,
    write_label,
    write_mask,
    write_pairs,
    write_pose,
    write_rgb,
)
from tryon.data.validate import Problem, ValidationReport, validate_dataset
from tryon.labels import NUM_KEYPOINTS, Label

RESOLUTION = Resolution(64, 48)
SMALL = (32, 24)


# A crude standing person in ACGPN ids: (id, top, bottom, left, right) as shares of the frame.
PERSON_PARTS = (
    (Label.HAIR, 0.05, 0.12, 0.4, 0.6),
    (Label.FACE, 0.12, 0.22, 0.4, 0.6),
    (Label.UPPER_CLOTHES, 0.22, 0.55, 0.3, 0.7),
    (Label.LEFT_ARM, 0.22, 0.5, 0.2, 0.3),
    (Label.RIGHT_ARM, 0.22, 0.5, 0.7, 0.8),
    (Label.PANTS, 0.55, 0.75, 0.3, 0.7),
    (Label.LEFT_LEG, 0.75, 0.9, 0.3, 0.5),
    (Label.RIGHT_LEG, 0.75, 0.9, 0.5, 0.7),
    (Label.LEFT_SHOE, 0.9, 0.97, 0.3, 0.5),
    (Label.RIGHT_SHOE, 0.9, 0.97, 0.5, 0.7),
)


def person_label(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    parsing = np.zeros(shape, dtype=np.uint8)
    for part, top, bottom, left, right in PERSON_PARTS:
        parsing[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = part
    return parsing


def garment_mask_array(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    mask[height // 8 : height * 7 // 8, width // 6 : width * 5 // 6] = True
    return mask


def build_dataset(root: Path, phase: str, n: int, *, seed: int = 0) -> DatasetLayout:
    """A valid phase of `n` persons p0.. and garments g0.., paired in order, with unpaired ground truth."""
    rng = np.random.default_rng(seed)
    layout = DatasetLayout(root, phase)
    shape = RESOLUTION.shape
    for i in range(n):
        name, cloth_name = f"p{i}.jpg", f"g{i}.jpg"
        write_rgb(layout.person_image(name), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
        write_label(layout.label(name), person_label(shape))
        keypoints = rng.uniform((0, 0, 0.5), (RESOLUTION.width, RESOLUTION.height, 1), (NUM_KEYPOINTS, 3))
        write_pose(layout.pose(name), keypoints)
        silhouette = garment_mask_array(shape)
        cloth = np.full((*shape, 3), 255, dtype=np.uint8)
        cloth[silhouette] = rng.integers(0, 200, 3, dtype=np.uint8)
        write_rgb(layout.garment(cloth_name), cloth)
        write_mask(layout.garment_mask(cloth_name), silhouette)
        write_rgb(layout.unpaired_gt(name), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    write_pairs(layout.pairs_file, [Pair(f"p{i}.jpg", f"g{i}.jpg") for i in range(n)])
    write_pairs(layout.unpaired_file, [Pair(f"p{i}.jpg", f"g{(i - 1) % n}.jpg") for i in range(n)])
    return layout


@pytest.fixture
def dataset(tmp_path: Path) -> DatasetLayout:
    return build_dataset(tmp_path / "data", "train", 3)


def validate(layout: DatasetLayout, **kwargs) -> ValidationReport:
    return validate_dataset(layout.root, resolution=RESOLUTION, **kwargs)


def assert_reported(report: ValidationReport, path: Path, words: str) -> None:
    """Some problem names `path` and its reason holds `words` (case-insensitive)."""
    reasons = [problem.reason for problem in report.problems if problem.path == path]
    assert any(words.lower() in reason.lower() for reason in reasons), (
        f"no problem with {path} mentioning {words!r}; got:\n" + "\n".join(map(str, report.problems))
    )


@dataclass(frozen=True)
class Defect:
    """Damage to person p{i} / garment g{i} (i >= 1) of a valid dataset, and how it must be reported.

    Different `i` touch different files, so that every defect can go into one dataset together.
    """

    damage: Callable[[DatasetLayout, int], object]
    file: Callable[[DatasetLayout, int], Path]  # the file the report must name
    words: str  # what its reason must say; `{i}` is replaced

    def apply(self, layout: DatasetLayout, i: int) -> tuple[Path, str]:
        self.damage(layout, i)
        return self.file(layout, i), self.words.format(i=i, line=i + 1)


def append_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line + "\n")


def replace_line(path: Path, old: str, new: str | None) -> None:
    """Replace line `old` in place, keeping later line numbers, or drop it when `new` is None."""
    lines = path.read_text().splitlines()
    index = lines.index(old)
    lines[index : index + 1] = [new] if new else []
    path.write_text("".join(f"{line}\n" for line in lines))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_garbage(path: Path) -> None:
    path.write_bytes(b"this is a text file, not a JPEG")


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document))


def label_with_ids(*ids: int) -> np.ndarray:
    parsing = person_label(RESOLUTION.shape)
    parsing[0, : len(ids)] = ids
    return parsing


def soft_mask() -> Image.Image:
    gradient = np.linspace(0, 255, RESOLUTION.width, dtype=np.uint8)
    return Image.fromarray(np.tile(gradient, (RESOLUTION.height, 1)))


def grey_texture() -> Image.Image:
    """Noise around the threshold: edges everywhere, so only the share of mid-grey gives it away."""
    noise = np.random.default_rng(0).normal(128, 20, RESOLUTION.shape)
    return Image.fromarray(noise.clip(0, 255).astype(np.uint8))


def black(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros((*shape, 3), np.uint8)


def person(d: DatasetLayout, i: int) -> Path:
    return d.person_image(f"p{i}")


def label(d: DatasetLayout, i: int) -> Path:
    return d.label(f"p{i}")


def pose(d: DatasetLayout, i: int) -> Path:
    return d.pose(f"p{i}")


def garment(d: DatasetLayout, i: int) -> Path:
    return d.garment(f"g{i}")


def mask(d: DatasetLayout, i: int) -> Path:
    return d.garment_mask(f"g{i}")


def truth(d: DatasetLayout, i: int) -> Path:
    return d.unpaired_gt(f"p{i}")


def pairs(d: DatasetLayout, i: int) -> Path:
    return d.pairs_file


def unpaired(d: DatasetLayout, i: int) -> Path:
    return d.unpaired_file


DEFECTS = {
    "image without label": Defect(lambda d, i: label(d, i).unlink(), person, "no parsing map"),
    "image without pose": Defect(lambda d, i: pose(d, i).unlink(), person, "no pose file"),
    "label without image": Defect(
        lambda d, i: write_label(d.label(f"ghost{i}"), person_label(RESOLUTION.shape)),
        lambda d, i: d.label(f"ghost{i}"),
        "no person image",
    ),
    "pose without image": Defect(
        lambda d, i: write_pose(d.pose(f"ghost{i}"), np.ones((NUM_KEYPOINTS, 3))),
        lambda d, i: d.pose(f"ghost{i}"),
        "no person image",
    ),
    "garment without mask": Defect(lambda d, i: mask(d, i).unlink(), garment, "no garment mask"),
    "mask without garment": Defect(lambda d, i: garment(d, i).unlink(), mask, "no garment image"),
    "pairs name a missing person": Defect(
        lambda d, i: append_line(d.pairs_file, f"nobody{i}.jpg g{i}.jpg"),
        pairs,
        "person nobody{i}.jpg has no image",
    ),
    "pairs name a missing garment": Defect(
        lambda d, i: replace_line(d.pairs_file, f"p{i}.jpg g{i}.jpg", f"p{i}.jpg lost{i}.jpg"),
        pairs,
        "garment lost{i}.jpg has no image",
    ),
    "pairs line malformed": Defect(
        lambda d, i: append_line(d.pairs_file, f"p{i}.jpg"), pairs, "expected 'PERSON.jpg GARMENT.jpg'"
    ),
    "pairs line repeated": Defect(
        lambda d, i: append_line(d.pairs_file, f"p{i}.jpg g{i}.jpg"), pairs, "repeats line {line}"
    ),
    "pairs line repeated in another case": Defect(
        lambda d, i: append_line(d.pairs_file, f"P{i}.jpg G{i}.jpg"), pairs, "repeats line {line}"
    ),
    "unpaired person twice": Defect(
        lambda d, i: append_line(d.unpaired_file, f"p{i}.jpg g{i}.jpg"),
        unpaired,
        "person p{i}.jpg is listed again",
    ),
    "person image truncated": Defect(lambda d, i: truncate(person(d, i)), person, "truncated"),
    "garment truncated": Defect(lambda d, i: truncate(garment(d, i)), garment, "truncated"),
    "person image not an image": Defect(lambda d, i: write_garbage(person(d, i)), person, "not an image"),
    "label not an image": Defect(lambda d, i: write_garbage(label(d, i)), label, "not an image"),
    "mask not an image": Defect(lambda d, i: write_garbage(mask(d, i)), mask, "not an image"),
    "person image wrong size": Defect(
        lambda d, i: write_rgb(person(d, i), black(SMALL)), person, "size 32x24, expected 64x48"
    ),
    "label wrong size": Defect(
        lambda d, i: write_label(label(d, i), np.zeros(SMALL, np.uint8)), label, "size 32x24"
    ),
    "garment wrong size": Defect(lambda d, i: write_rgb(garment(d, i), black(SMALL)), garment, "size 32x24"),
    "mask wrong size": Defect(
        lambda d, i: write_mask(mask(d, i), garment_mask_array(SMALL)), mask, "size 32x24"
    ),
    "label not single-channel": Defect(
        lambda d, i: Image.fromarray(black(RESOLUTION.shape)).save(label(d, i)), label, "single-channel"
    ),
    "label ids outside the table": Defect(
        lambda d, i: write_label(label(d, i), label_with_ids(2, 17, 17)), label, "ids [2, 17] are outside"
    ),
    "pose not JSON": Defect(lambda d, i: pose(d, i).write_text("{people: ["), pose, "not readable JSON"),
    "pose wrong keypoint count": Defect(
        lambda d, i: write_json(pose(d, i), {"people": [{"pose_keypoints": [1.0] * 51}]}),
        pose,
        "51 values, expected 54",
    ),
    "pose outside the image": Defect(
        lambda d, i: write_pose(pose(d, i), np.full((NUM_KEYPOINTS, 3), 500.0)), pose, "outside the"
    ),
    "pose people empty": Defect(
        lambda d, i: write_json(pose(d, i), {"people": []}), pose, "'people' is empty"
    ),
    "mask empty": Defect(
        lambda d, i: write_mask(mask(d, i), np.zeros(RESOLUTION.shape, bool)), mask, "empty mask"
    ),
    "mask soft": Defect(lambda d, i: soft_mask().save(mask(d, i)), mask, "not binary"),
    "mask a grey texture": Defect(lambda d, i: grey_texture().save(mask(d, i)), mask, "not binary"),
    "same name, other extension": Defect(
        lambda d, i: Image.open(person(d, i)).save(d.image_dir / f"p{i}.png"),
        lambda d, i: d.image_dir / f"p{i}.png",
        "clashes with p{i}.jpg",
    ),
    "same name, other case": Defect(
        lambda d, i: (d.garment_dir / f"G{i}.jpg").write_bytes(garment(d, i).read_bytes()),
        garment,  # the later of the two in sorted order is the one named
        "clashes with G{i}.jpg",
    ),
    "stray file": Defect(
        lambda d, i: (d.pose_dir / f"notes{i}.txt").write_text("todo"),
        lambda d, i: d.pose_dir / f"notes{i}.txt",
        "unexpected file",
    ),
    "unpaired truth wrong size": Defect(
        lambda d, i: write_rgb(truth(d, i), black(SMALL)), truth, "size 32x24"
    ),
    "unpaired truth not an image": Defect(lambda d, i: write_garbage(truth(d, i)), truth, "not an image"),
    "unpaired truth not listed": Defect(
        lambda d, i: replace_line(d.unpaired_file, f"p{i}.jpg g{i - 1}.jpg", None), truth, "not listed"
    ),
    "unpaired names a missing garment": Defect(
        lambda d, i: replace_line(d.unpaired_file, f"p{i}.jpg g{i - 1}.jpg", f"p{i}.jpg lost{i}.jpg"),
        unpaired,
        "garment lost{i}.jpg has no image",
    ),
}


def test_valid_dataset_passes(dataset: DatasetLayout) -> None:
    report = validate(dataset)
    assert report.ok, "\n".join(map(str, report.problems))
    assert report.summary() == f"{dataset.root}: valid, train 3 pairs at 64x48"
    assert (report.phases, report.n_pairs, report.n_persons, report.n_garments) == (("train",), 3, 3, 3)


def test_summary_lists_every_phase(dataset: DatasetLayout) -> None:
    build_dataset(dataset.root, "test", 2, seed=1)
    report = validate(dataset)
    assert report.summary() == f"{dataset.root}: valid, train 3 pairs, test 2 pairs at 64x48"
    assert report.n_pairs == 5


@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_each_defect_is_reported_with_its_file(kind: str, dataset: DatasetLayout) -> None:
    path, words = DEFECTS[kind].apply(dataset, 1)
    report = validate(dataset)
    assert not report.ok
    assert_reported(report, path, words)
    assert "problem" in report.summary() and "\n" not in report.summary()


def test_all_defects_of_one_dataset_are_reported_and_nothing_is_modified(tmp_path: Path) -> None:
    layout = build_dataset(tmp_path / "data", "train", len(DEFECTS) + 1)
    expected = [defect.apply(layout, i) for i, defect in enumerate(DEFECTS.values(), start=1)]
    before = tree_state(layout.root)
    report = validate(layout)
    assert tree_state(layout.root) == before
    for path, words in expected:
        assert_reported(report, path, words)
    n_files = len({problem.path for problem in report.problems})
    assert report.summary() == f"{layout.root}: {len(report.problems)} problems in {n_files} files"


def tree_state(root: Path) -> dict[Path, tuple[str, int]]:
    """Content hash and mtime of every file under `root`."""
    return {
        path: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_problem_reads_path_colon_reason() -> None:
    assert str(Problem(Path("data/train_img/a.jpg"), "size 1x1")) == "data/train_img/a.jpg: size 1x1"


def test_root_without_phases_is_a_problem(tmp_path: Path) -> None:
    report = validate_dataset(tmp_path, resolution=RESOLUTION)
    assert [(problem.path, "not a dataset root" in problem.reason) for problem in report.problems] == [
        (tmp_path, True)
    ]
    assert report.summary() == f"{tmp_path}: 1 problem in 1 file"


def test_missing_root_is_a_problem(tmp_path: Path) -> None:
    report = validate_dataset(tmp_path / "absent", resolution=RESOLUTION, phases=["train"])
    assert_reported(report, tmp_path / "absent", "no such folder")


def test_requested_phase_without_folders_is_reported(dataset: DatasetLayout) -> None:
    report = validate(dataset, phases=["train", "test"])
    test_layout = DatasetLayout(dataset.root, "test")
    assert_reported(report, test_layout.image_dir, "missing folder")
    assert_reported(report, test_layout.garment_mask_dir, "missing folder")


def test_missing_folder_is_reported_once(dataset: DatasetLayout) -> None:
    for path in dataset.pose_dir.iterdir():
        path.unlink()
    dataset.pose_dir.rmdir()
    report = validate(dataset)
    assert [str(problem) for problem in report.problems] == [
        f"{dataset.pose_dir}: missing folder: every train dataset needs it"
    ]


def test_unknown_phase_is_a_caller_error(dataset: DatasetLayout) -> None:
    with pytest.raises(ValueError, match="phase 'val'"):
        validate(dataset, phases=["val"])


def test_a_person_and_a_garment_may_appear_in_many_pairs(dataset: DatasetLayout) -> None:
    for line in ("p0.jpg g1.jpg", "p0.jpg g2.jpg", "p1.jpg g0.jpg", "p2.jpg g0.jpg"):
        append_line(dataset.pairs_file, line)
    report = validate(dataset)
    assert report.ok, "\n".join(map(str, report.problems))
    assert report.n_pairs == 3 + 4


def test_sorted_pairing_needs_equal_counts(dataset: DatasetLayout) -> None:
    dataset.pairs_file.unlink()
    assert validate(dataset).ok  # 3 persons and 3 garments pair in sorted order
    write_rgb(dataset.garment("g9.jpg"), np.full((*RESOLUTION.shape, 3), 255, np.uint8))
    write_mask(dataset.garment_mask("g9.jpg"), garment_mask_array(RESOLUTION.shape))
    assert_reported(validate(dataset), dataset.root, "sorted pairing needs equal counts")


def png_header(width: int, height: int) -> bytes:
    """An RGB PNG claiming `width` x `height` but holding no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to decode pixels fails loudly, so a refusal proves the file was never decoded."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decoder was requested")

    monkeypatch.setattr(Image, "_getdecoder", refuse)


@pytest.mark.parametrize("size", [(100_000, 100_000), (5000, 4000)], ids=["far-over", "just-over"])
def test_decompression_bomb_header_is_refused_without_decoding(
    size: tuple[int, int], dataset: DatasetLayout, no_decoding: None
) -> None:
    dataset.garment("g1").write_bytes(png_header(*size))
    limit_before = Image.MAX_IMAGE_PIXELS
    report = validate(dataset, max_image_pixels=12_000_000)
    assert_reported(report, dataset.garment("g1"), "decompression bomb")
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_images_over_a_small_limit_are_all_refused_without_decoding(
    dataset: DatasetLayout, no_decoding: None
) -> None:
    report = validate(dataset, max_image_pixels=RESOLUTION.height * RESOLUTION.width - 1)
    refused = {problem.path for problem in report.problems if "decompression bomb" in problem.reason}
    images = {path for path in dataset.root.rglob("*") if path.suffix in (".jpg", ".png")}
    assert refused == images
    assert all("decompression bomb" in problem.reason for problem in report.problems)


def test_truncation_is_found_even_when_the_process_allows_truncated_images(
    dataset: DatasetLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    truncate(dataset.person_image("p1"))
    assert_reported(validate(dataset), dataset.person_image("p1"), "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
