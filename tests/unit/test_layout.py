import json

import numpy as np
import pytest

from tryon.data.layout import (
    DatasetLayout,
    Pair,
    PoseFormatError,
    read_label,
    read_mask,
    read_pairs,
    read_pose,
    read_rgb,
    write_label,
    write_mask,
    write_pairs,
    write_pose,
    write_rgb,
)
from tryon.labels import Label


@pytest.mark.parametrize(("height", "width"), [(256, 192), (512, 384), (1024, 768)])
def test_files_round_trip_at_every_dataset_resolution(tmp_path, height, width):
    layout = DatasetLayout(tmp_path, "test")
    rng = np.random.default_rng(0)
    label = rng.choice([int(v) for v in Label], size=(height, width)).astype(np.uint8)
    mask = rng.random((height, width)) > 0.5
    image = np.full((height, width, 3), (200, 30, 90), dtype=np.uint8)
    write_label(layout.label("a.jpg"), label)
    write_mask(layout.garment_mask("c.jpg"), mask)
    write_rgb(layout.person_image("a.jpg"), image)
    assert (read_label(layout.label("a.jpg")) == label).all()
    assert (read_mask(layout.garment_mask("c.jpg")) == mask).mean() > 0.95  # JPEG rings at random edges
    assert np.abs(read_rgb(layout.person_image("a.jpg")).astype(int) - image).max() <= 3
    assert layout.person_image("a.jpg") == tmp_path / "test_img" / "a.jpg"
    assert layout.pose("a.jpg") == tmp_path / "test_pose" / "a_keypoints.json"


@pytest.mark.parametrize("key", ["pose_keypoints", "pose_keypoints_2d"])
def test_pose_round_trips_under_both_openpose_keys(tmp_path, key):
    keypoints = np.arange(54, dtype=np.float32).reshape(18, 3)
    write_pose(tmp_path / "p.json", keypoints, key=key)
    assert np.allclose(read_pose(tmp_path / "p.json"), keypoints)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not readable JSON"),
        ('{"people": []}', "empty"),
        ('{"people": [{"pose_keypoints": [1, 2, 3]}]}', "3 values, expected 54"),
        ('{"people": [{"face": []}]}', "neither"),
        ('{"version": 1}', "no 'people'"),
    ],
)
def test_malformed_pose_files_are_refused_with_the_reason(tmp_path, document, message):
    path = tmp_path / "bad_keypoints.json"
    path.write_text(document)
    with pytest.raises(PoseFormatError, match=message):
        read_pose(path)


def test_pairs_file_wins_over_sorted_pairing(tmp_path):
    layout = DatasetLayout(tmp_path, "train")
    for name in ("b_0.jpg", "a_0.jpg"):
        write_rgb(layout.person_image(name), np.zeros((16, 16, 3), dtype=np.uint8))
    for name in ("y_1.jpg", "x_1.jpg"):
        write_rgb(layout.garment(name), np.zeros((16, 16, 3), dtype=np.uint8))
    assert read_pairs(layout) == [Pair("a_0.jpg", "x_1.jpg"), Pair("b_0.jpg", "y_1.jpg")]
    write_pairs(layout.pairs_file, [Pair("a_0.jpg", "y_1.jpg")])
    assert read_pairs(layout) == [Pair("a_0.jpg", "y_1.jpg")]


def test_sorted_pairing_needs_equal_counts_and_bad_lines_name_their_line(tmp_path):
    layout = DatasetLayout(tmp_path, "train")
    write_rgb(layout.person_image("a_0.jpg"), np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="sorted pairing needs equal counts"):
        read_pairs(layout)
    layout.pairs_file.write_text("a_0.jpg x_1.jpg\nonly_one_field.jpg\n")
    with pytest.raises(ValueError, match=r"train_pairs.txt:2"):
        read_pairs(layout)


def test_a_refused_write_keeps_the_previous_file_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "pose_keypoints.json"
    write_pose(path, np.zeros((18, 3)))
    with pytest.raises(ValueError):
        write_pose(path, np.zeros((17, 3)))
    assert json.loads(path.read_text())["people"][0]["pose_keypoints"] == [0.0] * 54
    assert [p.name for p in tmp_path.iterdir()] == ["pose_keypoints.json"]


def test_dataset_reads_go_through_the_validators_image_checks(tmp_path):
    from tests.unit.test_validate import RESOLUTION, build_dataset, png_header, truncate
    from tryon.data.dataset import TryOnDataset
    from tryon.data.images import UnusableImage

    layout = build_dataset(tmp_path / "data", "train", 3)
    dataset = TryOnDataset(layout.root, phase="train", resolution=RESOLUTION, max_image_pixels=64 * 48)
    assert dataset[0]["image"].shape == (3, *RESOLUTION.shape)
    layout.garment("g1").write_bytes(png_header(100_000, 100_000))
    with pytest.raises(UnusableImage, match=r"g1\.jpg: .*decompression bomb"):
        dataset[1]
    truncate(layout.label("p2"))
    with pytest.raises(UnusableImage, match=r"p2\.png: .*truncated"):
        dataset[2]
    with pytest.raises(UnusableImage, match="decompression bomb"):
        TryOnDataset(layout.root, phase="train", resolution=RESOLUTION, max_image_pixels=100)[0]


def test_dataset_pairs_one_person_with_many_garments(tmp_path):
    from tests.unit.test_validate import RESOLUTION, build_dataset
    from tryon.data.dataset import TryOnDataset, collate

    layout = build_dataset(tmp_path / "data", "train", 3)
    write_pairs(layout.pairs_file, [Pair("p0.jpg", g) for g in ("g0.jpg", "g1.jpg", "g2.jpg")] + [Pair("p1.jpg", "g0.jpg")])
    dataset = TryOnDataset(layout.root, phase="train", resolution=RESOLUTION, with_unpaired=True)
    batch = collate([dataset[i] for i in range(len(dataset))])
    assert batch.names == ("p0.jpg", "p0.jpg", "p0.jpg", "p1.jpg")
    assert batch.garment_names == ("g0.jpg", "g1.jpg", "g2.jpg", "g0.jpg")
    assert (batch.image[0] == batch.image[2]).all() and (batch.garment[0] == batch.garment[3]).all()
    assert not (batch.garment[0] == batch.garment[1]).all()
    assert batch.unpaired_target is not None and (batch.unpaired_target[0] == batch.unpaired_target[1]).all()
