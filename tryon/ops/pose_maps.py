"""Pose maps: one channel per OpenPose keypoint with a filled square around the keypoint.

Values follow ACGPN, which draws each square in white on black and normalises it like an image:
1 inside the square, -1 elsewhere (a channel is -1 everywhere when its keypoint is missing).
"""

from __future__ import annotations

import torch
from torch import Tensor

INSIDE = 1.0
OUTSIDE = -1.0


def pose_maps(
    keypoints: Tensor,
    *,
    height: int,
    width: int,
    radius: int,
    threshold: float = 0.0,
) -> Tensor:
    """(B, K, 3) keypoints (x, y in pixels, confidence) to (B, K, H, W) maps.

    A pixel (row, col) is inside keypoint k's square when |col - x_k| <= radius and
    |row - y_k| <= radius (a square of side 2 * radius + 1, as ACGPN draws it). Keypoints with
    confidence <= `threshold` are not drawn: OpenPose writes confidence 0 for the ones it missed.
    `radius` is in pixels at this size (see `tryon.ops.morphology.scale_radius`).
    """
    dtype = keypoints.dtype if keypoints.is_floating_point() else torch.float32
    x, y, confidence = keypoints.to(dtype)[..., None, None].unbind(dim=2)
    rows = torch.arange(height, device=keypoints.device, dtype=dtype).view(height, 1)
    cols = torch.arange(width, device=keypoints.device, dtype=dtype).view(1, width)
    inside = ((cols - x).abs() <= radius) & ((rows - y).abs() <= radius) & (confidence > threshold)
    return torch.where(inside, INSIDE, OUTSIDE).to(dtype)
