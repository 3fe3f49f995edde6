"""OpenPose JSON: COCO-18 and BODY_25 files read as ACGPN's COCO-18 keypoints, and COCO-18 written.

ACGPN's pose maps use OpenPose's COCO-18 joints (`tryon.labels.POSE_KEYPOINTS`). OpenPose's default
model since 1.4 is BODY_25: COCO-18's joints plus a mid-hip and six foot points, in another order.
A BODY_25 file is converted by joint name wherever a pose file is read (dataset, validator, import):
each COCO-18 joint takes the BODY_25 joint of the same name, the other seven are dropped.

Which person a file with several people yields: `people[0]` by default, as ACGPN's own loader reads
it (a dataset file holds one person; the rest are stray detections); the person import passes
`person_index=None`, which refuses such a file until the user names the person to take.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tryon.atomic import atomic_path
from tryon.labels import NUM_KEYPOINTS

# OpenPose's joint names in each model's output order (OpenPose doc/02_output.md, "Keypoint Ordering").
OPENPOSE_COCO_18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
    "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip
OPENPOSE_BODY_25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
    "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
POSE_MODELS = {"COCO-18": OPENPOSE_COCO_18, "BODY_25": OPENPOSE_BODY_25}

BODY_25_TO_COCO_18 = tuple(OPENPOSE_BODY_25.index(name) for name in OPENPOSE_COCO_18)
"""For each COCO-18 joint, the index of the BODY_25 joint of the same name."""

POSE_KEYS = ("pose_keypoints_2d", "pose_keypoints")  # OpenPose >= 1.2, and 1.0 as in VITON
FIRST_PERSON = 0


class PoseFormatError(ValueError):
    """A pose file that is not OpenPose COCO-18 or BODY_25 JSON, or names no usable person."""


def coco18_from_body25(keypoints: np.ndarray) -> np.ndarray:
    """(25, 3) BODY_25 keypoints as (18, 3) COCO-18 ones, joint by joint name."""
    keypoints = np.asarray(keypoints)
    if keypoints.shape != (len(OPENPOSE_BODY_25), 3):
        raise ValueError(f"BODY_25 keypoints have shape {keypoints.shape}, expected (25, 3)")
    return keypoints[list(BODY_25_TO_COCO_18)]


def read_pose(path: Path, *, person_index: int | None = FIRST_PERSON) -> np.ndarray:
    """Read OpenPose JSON (COCO-18 or BODY_25) as (18, 3) float32 COCO-18 (x, y, confidence) in pixels.

    The keypoints sit under `pose_keypoints_2d` or `pose_keypoints` (OpenPose 1.0, as in VITON); the
    model is told by their count (54 or 75 values). `person_index` picks `people[i]`; None accepts
    only a file with exactly one person. Missing joints keep OpenPose's (0, 0, 0).
    Raises PoseFormatError saying what is wrong, with the path.
    """
    people = _people(path)
    if person_index is None:
        if len(people) > 1:
            raise PoseFormatError(
                f"{path}: {len(people)} people detected; choose one with the person index (0..{len(people) - 1})"
            )
        person_index = 0
    if not 0 <= person_index < len(people):
        raise PoseFormatError(
            f"{path}: person index {person_index} but the file holds {len(people)} people "
            f"(0..{len(people) - 1})"
        )
    person = people[person_index]
    values = None
    if isinstance(person, dict):
        values = next((person[key] for key in POSE_KEYS if key in person), None)
    if not isinstance(values, list):
        raise PoseFormatError(
            f"{path}: people[{person_index}] has neither 'pose_keypoints' nor 'pose_keypoints_2d'"
        )
    counts = {len(names) * 3: model for model, names in POSE_MODELS.items()}
    if len(values) not in counts:
        expected = " or ".join(f"{count} ({model} x, y, confidence)" for count, model in counts.items())
        raise PoseFormatError(f"{path}: {len(values)} values, expected {expected}")
    try:
        array = np.asarray(values, dtype=np.float32).reshape(-1, 3)
    except (TypeError, ValueError) as error:
        raise PoseFormatError(f"{path}: keypoints are not all numbers ({error})") from error
    if not np.isfinite(array).all():
        raise PoseFormatError(f"{path}: keypoints hold NaN or infinite values")
    return coco18_from_body25(array) if counts[len(values)] == "BODY_25" else array


def count_people(path: Path) -> int:
    """How many people an OpenPose file lists; PoseFormatError when it is not OpenPose JSON."""
    return len(_people(path))


def write_pose(path: Path, keypoints: np.ndarray, *, key: str = "pose_keypoints") -> None:
    """Write (18, 3) keypoints as OpenPose JSON under `key` (`pose_keypoints` or `pose_keypoints_2d`)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints have shape {keypoints.shape}, expected ({NUM_KEYPOINTS}, 3)")
    values = [round(float(v), 3) for v in keypoints.reshape(-1)]
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps({"version": 1.0, "people": [{key: values}]}))


def _people(path: Path) -> list:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoseFormatError(f"{path}: not readable JSON ({error})") from error
    people = document.get("people") if isinstance(document, dict) else None
    if not isinstance(people, list):
        raise PoseFormatError(f"{path}: no 'people' list")
    if not people:
        raise PoseFormatError(f"{path}: 'people' is empty (no person detected)")
    return people
