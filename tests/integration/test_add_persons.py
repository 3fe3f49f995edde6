"""A real photograph through `tryon data add-persons`, then garments and a pairs file with one avatar
in many pairs, validated and read by the dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from typer.testing import CliRunner

from tests.unit.test_garments import laydown_photo, tshirt_silhouette
from tryon.cli import app
from tryon.config import Resolution
from tryon.data.dataset import TryOnDataset, collate
from tryon.data.layout import DatasetLayout, Pair, read_label, read_pose, read_rgb, write_pairs
from tryon.data.pose import OPENPOSE_BODY_25
from tryon.labels import KEYPOINT, Label

SIZE = Resolution(256, 192)

# Grace Hopper's portrait as matplotlib ships it (600x512, head and shoulders), parsed by hand in LIP
# ids: (id, top, bottom, left, right) in photo pixels, drawn in order.
GRACE_PARTS = (
    (1, 20, 140, 175, 385),  # hat
    (2, 140, 330, 165, 395),  # hair beside the face
    (13, 140, 345, 200, 360),  # face
    (5, 345, 600, 25, 490),  # uniform
)
GRACE_JOINTS = {  # BODY_25, as OpenPose's default model writes it
    "Nose": (280, 265), "Neck": (280, 375), "RShoulder": (110, 425), "LShoulder": (440, 425),
    "REye": (240, 220), "LEye": (320, 220), "REar": (195, 240), "LEar": (365, 240),
}  # fmt: skip


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    src.mkdir()
    shutil.copyfile(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), src / "grace.jpg")
    width, height = Image.open(src / "grace.jpg").size
    parsing = np.zeros((height, width), dtype=np.uint8)
    for class_id, top, bottom, left, right in GRACE_PARTS:
        parsing[top:bottom, left:right] = class_id
    Image.fromarray(parsing, mode="L").save(src / "grace_parsing.png")
    values = np.zeros((25, 3))
    for name, (x, y) in GRACE_JOINTS.items():
        values[OPENPOSE_BODY_25.index(name)] = (x, y, 0.85)
    document = {"version": 1.3, "people": [{"pose_keypoints_2d": values.ravel().tolist()}]}
    (src / "grace_keypoints.json").write_text(json.dumps(document))
    return src


def run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_real_photo_becomes_a_dataset_avatar_worn_with_many_garments(photos: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    output = run("data", "add-persons", photos, root, "--phase", "test", "--size", SIZE, "--parser", "lip")
    assert "persons: 1 added, 0 unchanged, 0 refused" in output
    assert "\r" not in output  # no progress bar when stderr is not a terminal

    layout = DatasetLayout(root, "test")
    image, labels, keypoints = (
        read_rgb(layout.person_image("grace")),
        read_label(layout.label("grace")),
        read_pose(layout.pose("grace")),
    )
    assert image.shape == (*SIZE.shape, 3) and labels.shape == SIZE.shape
    assert set(np.unique(labels).tolist()) == {Label.BACKGROUND, Label.HAIR, Label.FACE, Label.UPPER_CLOTHES}
    face, uniform = (
        image[labels == Label.FACE].mean(axis=0),
        image[labels == Label.UPPER_CLOTHES].mean(axis=0),
    )
    # skin over the face, the navy uniform below it
    assert face[0] > face[2] + 30 and uniform.sum() < face.sum() - 150
    for joint, part in (
        ("nose", Label.FACE),
        ("neck", Label.UPPER_CLOTHES),
        ("left_shoulder", Label.UPPER_CLOTHES),
    ):
        x, y, confidence = keypoints[KEYPOINT[joint]]
        assert confidence > 0 and labels[round(float(y)), round(float(x))] == part, joint
    assert (keypoints[KEYPOINT["right_hip"]] == 0).all()  # out of the photo: missing, as OpenPose wrote it

    garments = tmp_path / "garments"
    garments.mkdir()
    for seed, name in enumerate(("tee", "top")):
        Image.fromarray(laydown_photo(tshirt_silhouette((450, 350)), seed=seed)).save(
            garments / f"{name}.jpg"
        )
    run("data", "add-garments", garments, root, "--phase", "test", "--size", SIZE, "--no-progress")
    write_pairs(layout.pairs_file, [Pair("grace.jpg", "tee.jpg"), Pair("grace.jpg", "top.jpg")])
    assert "valid, test 2 pairs at 256x192" in run("data", "validate", root, "--size", SIZE)

    dataset = TryOnDataset(root, phase="test", resolution=SIZE)
    batch = collate([dataset[0], dataset[1]])
    assert batch.names == ("grace.jpg", "grace.jpg") and batch.garment_names == ("tee.jpg", "top.jpg")
    assert (batch.image[0] == batch.image[1]).all() and not (batch.garment[0] == batch.garment[1]).all()


def test_cihp_output_of_the_same_photo_keeps_the_neckline_out_of_the_garment(
    photos: Path, tmp_path: Path
) -> None:
    parsing = np.asarray(Image.open(photos / "grace_parsing.png")).copy()
    parsing[345:420, 230:330] = 10  # CIHP torso skin: the white collar and neck
    schp = tmp_path / "schp"
    schp.mkdir()
    Image.fromarray(parsing, mode="L").save(schp / "grace.png")
    (photos / "grace_parsing.png").unlink()
    root = tmp_path / "data"
    run("data", "add-persons", photos, root, "--size", SIZE, "--parser", "cihp", "--parsing", schp)
    labels = read_label(DatasetLayout(root, "test").label("grace"))
    x, y, _ = read_pose(DatasetLayout(root, "test").pose("grace"))[KEYPOINT["neck"]]
    assert labels[round(float(y)), round(float(x))] == Label.NOISE
