import dataclasses
import json
import sys

import cv2
import numpy as np
import pytest

from tryon.config import Resolution
from tryon.data.layout import (
    DatasetLayout,
    read_label,
    read_mask,
    read_pairs,
    read_pose,
    read_rgb,
    read_unpaired,
)
from tryon.data.synthetic import MANIFEST_NAME, generate_dataset
from tryon.data.synthetic.body import sample_body
from tryon.data.synthetic.garment import KINDS, PATTERNS, build_garment, sample_design
from tryon.data.synthetic.render import render_person
from tryon.data.validate import validate_dataset
from tryon.labels import KEYPOINT, VALID_IDS, Label

TINY = Resolution(64, 48)
SMALL = Resolution(128, 96)
CLOTHES_AND_ARMS = (Label.UPPER_CLOTHES, Label.LEFT_ARM, Label.RIGHT_ARM)
ARM_OF = {"left": Label.LEFT_ARM, "right": Label.RIGHT_ARM}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return generate_dataset(root, n_train=12, n_test=4, resolution=SMALL, seed=3, workers=1)


def _files(root):
    return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _design(seed, kind):
    """A random design forced to `kind`."""
    return dataclasses.replace(sample_design(np.random.default_rng(seed)), kind=kind)


def _samples(summary):
    for phase in ("train", "test"):
        layout = DatasetLayout(summary.root, phase)
        for pair in read_pairs(layout):
            yield layout, pair


def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path):
    one = generate_dataset(tmp_path / "one", n_train=6, n_test=2, resolution=TINY, seed=5, workers=1)
    two = generate_dataset(tmp_path / "two", n_train=6, n_test=2, resolution=TINY, seed=5, workers=2)
    other = generate_dataset(tmp_path / "other", n_train=6, n_test=2, resolution=TINY, seed=6, workers=1)
    files = _files(one.root)
    assert len(files) == (6 + 2) * 6 + 2 * 2 + 1  # six files a sample, two pairs files a phase, the manifest
    assert files == _files(two.root)
    other_files = _files(other.root)
    assert files.keys() == other_files.keys()
    images = [name for name in files if name.suffix == ".jpg"]
    assert all(files[name] != other_files[name] for name in images)


def test_names_and_counts_follow_the_pairs_files(dataset):
    assert (dataset.n_train, dataset.n_test, dataset.resolution) == (12, 4, SMALL)
    for phase, count in (("train", 12), ("test", 4)):
        layout = DatasetLayout(dataset.root, phase)
        pairs = read_pairs(layout)
        assert [p.person for p in pairs] == [f"{i:06d}_0.jpg" for i in range(1, count + 1)]
        assert [p.garment for p in pairs] == [f"{i:06d}_1.jpg" for i in range(1, count + 1)]
        assert layout.person_names() == [p.person for p in pairs]
        assert layout.garment_names() == [p.garment for p in pairs]
        for pair in pairs:
            for path in (
                layout.label(pair.person),
                layout.pose(pair.person),
                layout.unpaired_gt(pair.person),
                layout.garment_mask(pair.garment),
            ):
                assert path.is_file(), path
        assert not list(dataset.root.rglob("*.tmp"))


def test_labels_use_acgpn_ids_and_show_every_part(dataset):
    for layout, pair in _samples(dataset):
        label = read_label(layout.label(pair.person))
        image = read_rgb(layout.person_image(pair.person))
        assert label.shape == image.shape[:2] == SMALL.shape
        ids = set(np.unique(label).tolist())
        assert ids <= VALID_IDS
        assert {Label.BACKGROUND, Label.HAIR, Label.FACE, Label.UPPER_CLOTHES, Label.PANTS} <= ids
        assert {Label.LEFT_SHOE, Label.RIGHT_SHOE} <= ids
        assert ids & {Label.LEFT_ARM, Label.RIGHT_ARM}


def test_garment_mask_is_the_garments_non_white_pixels(dataset):
    kernel = np.ones((3, 3), np.uint8)
    for layout, pair in _samples(dataset):
        mask = read_mask(layout.garment_mask(pair.garment))
        garment = read_rgb(layout.garment(pair.garment))
        non_white = garment.min(axis=2) < 225
        # The outline's pixels are anti-aliased and JPEG rings around them: judge the rest.
        outline = cv2.dilate(mask.astype(np.uint8), kernel) != cv2.erode(mask.astype(np.uint8), kernel)
        assert (mask == non_white)[~outline].mean() > 0.995
        assert 0.15 < mask.mean() < 0.8  # a garment, not a speck or the whole frame


def test_pose_is_openpose_in_pixels_and_wrists_sit_on_arms_or_sleeves(dataset):
    height, width = SMALL.shape
    for layout, pair in _samples(dataset):
        document = json.loads(layout.pose(pair.person).read_text())
        assert list(document["people"][0]) == ["pose_keypoints"]
        pose = read_pose(layout.pose(pair.person))
        assert (pose[:, 2] > 0.85).all()
        assert (pose[:, 0] >= 0).all() and (pose[:, 0] <= width - 1).all()
        assert (pose[:, 1] >= 0).all() and (pose[:, 1] <= height - 1).all()
        # OpenPose's left is the person's left: the image's right.
        assert pose[KEYPOINT["left_shoulder"], 0] > pose[KEYPOINT["right_shoulder"], 0]
        label = read_label(layout.label(pair.person))
        for side in ("left", "right"):
            x, y = np.round(pose[KEYPOINT[f"{side}_wrist"], :2]).astype(int)
            near = set(np.unique(label[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]).tolist())
            assert near & {ARM_OF[side], Label.UPPER_CLOTHES}, (pair.person, side, near)
        x, y = np.round(pose[KEYPOINT["nose"], :2]).astype(int)
        assert label[y, x] == Label.FACE


def test_unpaired_ground_truth_is_the_same_person_in_another_garment(dataset):
    manifest = json.loads((dataset.root / MANIFEST_NAME).read_text())
    for phase in ("train", "test"):
        layout = DatasetLayout(dataset.root, phase)
        garments = set(layout.garment_names())
        unpaired = read_unpaired(layout)
        own = {p.person: p.garment for p in read_pairs(layout)}
        assert [p.person for p in unpaired] == list(own)
        assert [p.garment for p in unpaired] == [s["unpaired_garment"] for s in manifest["samples"][phase]]
        for pair in unpaired:
            assert pair.garment in garments and pair.garment != own[pair.person]
            label = read_label(layout.label(pair.person))
            paired = read_rgb(layout.person_image(pair.person)).astype(int)
            other = read_rgb(layout.unpaired_gt(pair.person)).astype(int)
            head = np.isin(label, [Label.FACE, Label.HAIR]).astype(np.uint8)
            head = cv2.erode(head, np.ones((5, 5), np.uint8))
            assert head.any()
            assert np.abs(paired - other)[head > 0].mean() < 4  # JPEG noise only
            assert np.abs(paired - other)[np.isin(label, CLOTHES_AND_ARMS)].mean() > 4


@pytest.mark.parametrize("seed", range(6))
def test_another_garment_changes_only_clothes_and_arms(seed):
    rng = np.random.default_rng(seed)
    body = sample_body(rng, SMALL)
    tee, tee_label = render_person(body, build_garment(_design(seed, "t-shirt"), SMALL))
    tank, tank_label = render_person(body, build_garment(_design(seed + 100, "tank-top"), SMALL))
    changed = np.isin(tee_label, CLOTHES_AND_ARMS) | np.isin(tank_label, CLOTHES_AND_ARMS)
    # Two pixels of slack: anti-aliased edges and sharp corners blend into their neighbours.
    changed = cv2.dilate(changed.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert (tee[~changed] == tank[~changed]).all()
    assert (tee_label[~changed] == tank_label[~changed]).all()

    def arms(label):
        return np.isin(label, [Label.LEFT_ARM, Label.RIGHT_ARM]).sum()

    assert arms(tank_label) > arms(tee_label)  # a tank top bares the upper arms


def test_a_forearm_across_the_torso_is_in_front_of_the_top():
    bodies = (sample_body(np.random.default_rng(seed), SMALL) for seed in range(100))
    body = next(b for b in bodies if b.crossing_arm)
    _, label = render_person(body, build_garment(_design(0, "t-shirt"), SMALL))
    side = body.crossing_arm
    elbow, wrist = body.point(f"{side}_elbow"), body.point(f"{side}_wrist")
    x, y = np.round((elbow + 2 * wrist) / 3).astype(int)
    assert label[y, x] == ARM_OF[side]
    column = label[:, x]  # the top shows above and below the forearm: the arm is in front of it
    assert (column[:y] == Label.UPPER_CLOTHES).any() and (column[y:] == Label.UPPER_CLOTHES).any()


@pytest.mark.parametrize("resolution", [TINY, SMALL, Resolution(256, 192), Resolution(512, 384)])
def test_people_fit_every_resolution(resolution):
    for seed in range(3):
        body = sample_body(np.random.default_rng(seed), resolution)
        garment = build_garment(sample_design(np.random.default_rng(seed)), resolution)
        image, label = render_person(body, garment)
        assert image.shape == (*resolution.shape, 3) and label.shape == resolution.shape
        assert (body.keypoints >= 0).all() and (body.keypoints < [resolution.width, resolution.height]).all()
        on_border = np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]])
        assert (on_border == Label.BACKGROUND).all()


def test_manifest_records_every_sample(dataset):
    manifest = json.loads((dataset.root / MANIFEST_NAME).read_text())
    assert manifest["seed"] == 3 and manifest["resolution"] == "128x96"
    assert manifest["counts"] == {"train": 12, "test": 4}
    for phase in ("train", "test"):
        pairs = read_pairs(DatasetLayout(dataset.root, phase))
        samples = manifest["samples"][phase]
        assert [(s["person"], s["garment"]) for s in samples] == [(p.person, p.garment) for p in pairs]
        for sample in samples:
            assert sample["garment_kind"] in KINDS and sample["unpaired_garment_kind"] in KINDS
            assert sample["pattern"] in PATTERNS
            assert len(sample["colour"]) == 3
            assert sample["arms_cross_torso"] == (sample["crossing_arm"] in ("left", "right"))


def test_refuses_too_few_samples_and_stale_files(tmp_path):
    with pytest.raises(ValueError, match="at least 2 samples"):
        generate_dataset(tmp_path, n_train=1, n_test=2, resolution=TINY, seed=0, workers=1)
    generate_dataset(tmp_path, n_train=3, n_test=2, resolution=TINY, seed=0, workers=1)
    generate_dataset(tmp_path, n_train=3, n_test=2, resolution=TINY, seed=1, workers=1)  # same names: fine
    with pytest.raises(FileExistsError, match="000003_0.jpg"):
        generate_dataset(tmp_path, n_train=2, n_test=2, resolution=TINY, seed=0, workers=1)


def test_generation_stays_fast(tmp_path):
    # About 15 ms a sample on one core of the 2-core CI machine; the bound only catches regressions
    # of several times, with room for a busy machine.
    summary = generate_dataset(
        tmp_path, n_train=48, n_test=2, resolution=Resolution(256, 192), seed=0, workers=1
    )
    assert summary.seconds < 10.0


@pytest.mark.parametrize("resolution", [Resolution(256, 192), Resolution(512, 384), Resolution(1024, 768)])
def test_generated_datasets_pass_the_validator_at_every_dataset_resolution(tmp_path, resolution):
    generate_dataset(tmp_path, n_train=2, n_test=2, resolution=resolution, seed=4, workers=1)
    report = validate_dataset(tmp_path, resolution=resolution)
    assert report.ok, "\n".join(map(str, report.problems))
    assert report.phase_pairs == (2, 2) and report.resolution == resolution
    layout = DatasetLayout(tmp_path, "test")
    for pair in read_pairs(layout):
        assert read_label(layout.label(pair.person)).shape == resolution.shape
        keypoints = read_pose(layout.pose(pair.person))
        assert keypoints[:, 0].max() > resolution.width / 3  # pixels of this size, not of 256x192
    elsewhere = validate_dataset(
        tmp_path, resolution=Resolution(resolution.height // 2, resolution.width // 2)
    )
    images = {path for path in tmp_path.rglob("*") if path.suffix in (".jpg", ".png")}
    assert {problem.path for problem in elsewhere.problems if "expected" in problem.reason} == images


def test_progress_bar_only_on_a_terminal_and_when_asked(tmp_path, capsys, monkeypatch):
    generate_dataset(tmp_path / "log", n_train=2, n_test=2, resolution=TINY, seed=0, workers=1, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    generate_dataset(tmp_path / "quiet", n_train=2, n_test=2, resolution=TINY, seed=0, workers=1)
    assert capsys.readouterr().err == ""
    generate_dataset(tmp_path / "bar", n_train=2, n_test=2, resolution=TINY, seed=0, workers=1, progress=True)
    assert "/4 [" in capsys.readouterr().err  # a bar over the 4 samples, cleared when done
