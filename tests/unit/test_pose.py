"""OpenPose files: COCO-18 and BODY_25 read as COCO-18 by joint name, and which person a file yields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tryon.config import Resolution
from tryon.data.dataset import TryOnDataset
from tryon.data.pose import (
    OPENPOSE_BODY_25,
    OPENPOSE_COCO_18,
    PoseFormatError,
    coco18_from_body25,
    count_people,
    read_pose,
)
from tryon.data.validate import validate_dataset
from tryon.labels import KEYPOINT, POSE_KEYPOINTS

# OpenPose doc/02_output.md, "Keypoint Ordering": POSE_BODY_25_BODY_PARTS and the COCO-18 order.
PUBLISHED_BODY_25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
    "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
PUBLISHED_COCO_18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
    "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip


def openpose_name(ours: str) -> str:
    """`right_shoulder` -> `RShoulder`, the spelling OpenPose uses."""
    side, _, joint = ours.partition("_")
    if not joint:
        return side.capitalize()
    return {"right": "R", "left": "L"}[side] + joint.capitalize()


def body25_file(
    path: Path, people: list[dict[str, tuple[float, float]]], *, key: str = "pose_keypoints_2d"
) -> Path:
    """An OpenPose BODY_25 file: each person given as {joint name: (x, y)}, other joints missing."""
    document = {"version": 1.3, "people": []}
    for joints in people:
        values = np.zeros((25, 3))
        for name, (x, y) in joints.items():
            values[PUBLISHED_BODY_25.index(name)] = (x, y, 0.8)
        document["people"].append({key: values.ravel().tolist()})
    path.write_text(json.dumps(document))
    return path


def test_joint_tables_follow_openpose_and_our_coco_order():
    assert OPENPOSE_BODY_25 == PUBLISHED_BODY_25 and OPENPOSE_COCO_18 == PUBLISHED_COCO_18
    assert tuple(openpose_name(name) for name in POSE_KEYPOINTS) == PUBLISHED_COCO_18


def test_body25_converts_to_coco18_by_joint_name():
    body25 = np.zeros((25, 3), dtype=np.float32)
    for index, name in enumerate(PUBLISHED_BODY_25):
        body25[index] = (index, 100 + index, 1)  # each joint carries its own BODY_25 index
    coco = coco18_from_body25(body25)
    for name in POSE_KEYPOINTS:
        assert coco[KEYPOINT[name], 0] == PUBLISHED_BODY_25.index(openpose_name(name)), name
    # the hips move: COCO's right hip (8) is BODY_25's 9, its left hip (11) BODY_25's 12
    assert coco[KEYPOINT["right_hip"], 0] == 9 and coco[KEYPOINT["left_hip"], 0] == 12


def test_a_body25_file_reads_as_coco18(tmp_path):
    path = body25_file(
        tmp_path / "p_keypoints.json", [{"Neck": (20, 10), "LHip": (30, 40), "MidHip": (25, 40)}]
    )
    keypoints = read_pose(path)
    assert keypoints.shape == (18, 3) and keypoints.dtype == np.float32
    assert keypoints[KEYPOINT["neck"]].tolist() == pytest.approx([20, 10, 0.8])
    assert keypoints[KEYPOINT["left_hip"]].tolist() == pytest.approx([30, 40, 0.8])
    assert (keypoints[KEYPOINT["right_hip"]] == 0).all()  # missing stays missing; MidHip has no COCO joint


def test_the_person_taken_from_a_file_with_several_is_the_documented_one(tmp_path):
    path = body25_file(tmp_path / "two_keypoints.json", [{"Neck": (1, 1)}, {"Neck": (2, 2)}])
    assert count_people(path) == 2
    assert read_pose(path)[KEYPOINT["neck"], 0] == 1  # people[0] by default, as ACGPN's loader
    assert read_pose(path, person_index=1)[KEYPOINT["neck"], 0] == 2
    with pytest.raises(PoseFormatError, match="2 people detected"):
        read_pose(path, person_index=None)
    with pytest.raises(PoseFormatError, match=r"person index 2 but the file holds 2 people \(0..1\)"):
        read_pose(path, person_index=2)
    single = body25_file(tmp_path / "one_keypoints.json", [{"Neck": (3, 3)}])
    assert read_pose(single, person_index=None)[KEYPOINT["neck"], 0] == 3


def test_other_keypoint_counts_are_refused_naming_both_formats(tmp_path):
    path = tmp_path / "bad_keypoints.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [0.0] * 45}]}))  # MPI_15
    with pytest.raises(PoseFormatError, match=r"45 values, expected 54 \(COCO-18.*75 \(BODY_25"):
        read_pose(path)


def test_validator_and_dataset_read_body25_files(tmp_path):
    from tests.unit.test_validate import RESOLUTION, build_dataset

    layout = build_dataset(tmp_path / "data", "train", 2)
    body25_file(layout.pose("p0"), [{"Neck": (20, 10), "RShoulder": (12, 14), "LShoulder": (30, 14)}])
    report = validate_dataset(layout.root, resolution=RESOLUTION)
    assert report.ok, "\n".join(map(str, report.problems))
    sample = TryOnDataset(layout.root, phase="train", resolution=Resolution(*RESOLUTION.shape))[0]
    assert sample["keypoints"][KEYPOINT["left_shoulder"]].tolist() == pytest.approx([30, 14, 0.8])
    body25_file(layout.pose("p1"), [{"Neck": (500, 10)}])
    assert any("outside" in p.reason for p in validate_dataset(layout.root, resolution=RESOLUTION).problems)
