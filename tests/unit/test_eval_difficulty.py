import numpy as np
import torch

from tryon.eval.difficulty import arm_occlusion, difficulty_levels
from tryon.labels import KEYPOINT, NUM_KEYPOINTS

HEIGHT = 256
# A front-facing person in a 192 x 256 image: torso from shoulders (70|122, 80) to hips (78|114, 170).
TORSO = {
    "right_shoulder": (70, 80),
    "left_shoulder": (122, 80),
    "right_hip": (78, 170),
    "left_hip": (114, 170),
}


def pose(**points):
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    for name, (x, y) in {**TORSO, **points}.items():
        keypoints[KEYPOINT[name]] = (x, y, 1.0)
    return keypoints


ARMS_DOWN = {
    "right_elbow": (55, 125),
    "right_wrist": (50, 170),
    "left_elbow": (137, 125),
    "left_wrist": (142, 170),
}


def test_arms_down_beside_the_body_are_easy():
    occlusion = arm_occlusion(pose(**ARMS_DOWN), HEIGHT)
    assert occlusion.forearm_inside == (0.0, 0.0)
    assert occlusion.level == "easy"


def test_a_forearm_across_the_torso_is_hard():
    across = {**ARMS_DOWN, "right_elbow": (60, 130), "right_wrist": (115, 125)}
    occlusion = arm_occlusion(pose(**across), HEIGHT)
    assert occlusion.forearm_inside[0] >= 0.5
    assert occlusion.level == "hard"


def test_one_hand_on_the_torso_is_medium():
    hand_on_hip = {**ARMS_DOWN, "right_elbow": (55, 125), "right_wrist": (85, 150)}
    occlusion = arm_occlusion(pose(**hand_on_hip), HEIGHT)
    assert occlusion.wrist_inside == (True, False)
    assert occlusion.forearm_inside[0] < 0.5
    assert occlusion.level == "medium"


def test_both_wrists_on_the_torso_are_hard():
    hands_on_belly = {
        "right_elbow": (50, 130),
        "right_wrist": (90, 140),
        "left_elbow": (142, 130),
        "left_wrist": (104, 140),
    }
    assert arm_occlusion(pose(**hands_on_belly), HEIGHT).level == "hard"


def test_missing_hips_extend_the_torso_to_the_bottom_edge():
    keypoints = pose(**{**ARMS_DOWN, "right_wrist": (96, 230), "right_elbow": (96, 200)})
    keypoints[[KEYPOINT["right_hip"], KEYPOINT["left_hip"]], 2] = 0  # not detected: cropped at the hips
    occlusion = arm_occlusion(keypoints, HEIGHT)
    assert occlusion.forearm_inside[0] == 1.0
    assert occlusion.level == "hard"


def test_no_shoulders_means_no_torso_and_counts_as_hard():
    keypoints = pose(**ARMS_DOWN)
    keypoints[KEYPOINT["left_shoulder"], 2] = 0
    occlusion = arm_occlusion(keypoints, HEIGHT)
    assert occlusion.forearm_inside is None
    assert occlusion.level == "hard"


def test_a_forearm_missing_its_elbow_counts_only_through_its_wrist():
    keypoints = pose(**{**ARMS_DOWN, "right_wrist": (96, 120)})
    keypoints[KEYPOINT["right_elbow"], 2] = 0
    occlusion = arm_occlusion(keypoints, HEIGHT)
    assert occlusion.forearm_inside == (0.0, 0.0)
    assert occlusion.level == "medium"


def test_levels_of_a_batch():
    across = {**ARMS_DOWN, "right_elbow": (60, 130), "right_wrist": (115, 125)}
    batch = torch.from_numpy(np.stack([pose(**ARMS_DOWN), pose(**across)]))
    assert difficulty_levels(batch, HEIGHT) == ["easy", "hard"]
