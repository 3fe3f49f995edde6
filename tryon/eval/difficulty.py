"""Test-set difficulty from the pose: how far the forearms and hands fall in front of the torso.

ACGPN's authors split their test set into easy, medium and hard by how much the arms occlude the
torso, the region the new garment must cover. We measure it from the COCO-18 keypoints:

- the torso is the polygon right shoulder, left shoulder, left hip, right hip; a hip the detector
  missed (VITON crops often cut at the hips) is put at the bottom edge below its shoulder;
- each forearm is the segment elbow -> wrist, sampled at FOREARM_POINTS evenly spaced points, and
  its *inside fraction* is the share of those points inside the torso polygon; a forearm missing
  its elbow or wrist has fraction 0 and counts only through its wrist, if that was found;
- **hard**: a forearm at least HARD_INSIDE (half) inside the torso, i.e. across the chest or belly,
  or both wrists inside; also a pose whose shoulders were not found (the torso is unknown, which
  happens in back views and heavy occlusion);
- **medium**: otherwise a forearm at least MEDIUM_INSIDE inside, or one wrist inside (a hand on the
  torso or at its edge);
- **easy**: otherwise, e.g. arms hanging beside the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path as Polygon
from torch import Tensor

from tryon.labels import KEYPOINT

LEVELS = ("easy", "medium", "hard")
MIN_CONFIDENCE = 0.05  # keypoints at or below this confidence count as not detected
FOREARM_POINTS = 21
MEDIUM_INSIDE = 0.1
HARD_INSIDE = 0.5

_TORSO = ("right_shoulder", "left_shoulder", "left_hip", "right_hip")
_HIP_BELOW = {"left_hip": "left_shoulder", "right_hip": "right_shoulder"}
_FOREARMS = (("right_elbow", "right_wrist"), ("left_elbow", "left_wrist"))


@dataclass(frozen=True)
class ArmOcclusion:
    """How much of each forearm (right, left) lies inside the torso; None when no torso was found."""

    forearm_inside: tuple[float, float] | None
    wrist_inside: tuple[bool, bool] | None

    @property
    def level(self) -> str:
        """The difficulty level, by the thresholds in the module docstring."""
        if self.forearm_inside is None or self.wrist_inside is None:
            return "hard"
        if max(self.forearm_inside) >= HARD_INSIDE or all(self.wrist_inside):
            return "hard"
        if max(self.forearm_inside) >= MEDIUM_INSIDE or any(self.wrist_inside):
            return "medium"
        return "easy"


def arm_occlusion(keypoints: np.ndarray, height: int) -> ArmOcclusion:
    """Measure an (18, 3) COCO-18 pose in an image `height` pixels tall."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    found = keypoints[:, 2] > MIN_CONFIDENCE

    def point(name: str) -> np.ndarray | None:
        return keypoints[KEYPOINT[name], :2] if found[KEYPOINT[name]] else None

    corners = []
    for name in _TORSO:
        corner = point(name)
        if corner is None and name in _HIP_BELOW:
            shoulder = point(_HIP_BELOW[name])
            corner = None if shoulder is None else np.array([shoulder[0], height])
        if corner is None:
            return ArmOcclusion(None, None)
        corners.append(corner)
    torso = Polygon(np.array([*corners, corners[0]]), closed=True)

    inside, wrists = [], []
    for elbow_name, wrist_name in _FOREARMS:
        elbow, wrist = point(elbow_name), point(wrist_name)
        wrist_in = wrist is not None and bool(torso.contains_point(wrist))
        if elbow is not None and wrist is not None:
            samples = elbow + np.linspace(0, 1, FOREARM_POINTS)[:, None] * (wrist - elbow)
            inside.append(float(torso.contains_points(samples).mean()))
        else:
            inside.append(0.0)
        wrists.append(wrist_in)
    return ArmOcclusion((inside[0], inside[1]), (wrists[0], wrists[1]))


def difficulty_levels(keypoints: Tensor, height: int) -> list[str]:
    """The level of each pose of a (B, 18, 3) keypoint batch in images `height` pixels tall."""
    return [arm_occlusion(pose, height).level for pose in keypoints.detach().cpu().numpy()]
