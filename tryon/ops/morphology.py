"""Binary mask morphology by max pooling: on the device, batched, differentiable where it matters.

ACGPN dilates and erodes with OpenCV on the host, one sample at a time (`morpho` in its model
file); a (2r + 1)-square max pool is the same operation with a square structuring element.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from tryon.config import SUPPORTED_RESOLUTIONS

REFERENCE_HEIGHT = SUPPORTED_RESOLUTIONS[0][0]
"""Radii in the config and in ACGPN are given at 256x192; other resolutions scale them by height."""


def scale_radius(radius: int, height: int) -> int:
    """A radius given at the reference height, in pixels at `height` (at least 1 if `radius` > 0)."""
    if radius <= 0:
        return 0
    return max(1, round(radius * height / REFERENCE_HEIGHT))


def dilate(mask: Tensor, radius: int) -> Tensor:
    """Grow a (B, C, H, W) mask by `radius` pixels: a max over each (2r + 1)-square neighbourhood.

    The square is separable, so a row pass then a column pass cost O(r) per pixel instead of
    O(r^2): the arm-hole radius grows to 40 pixels at 1024x768.
    """
    if radius <= 0:
        return mask
    size = 2 * radius + 1
    rows = F.max_pool2d(mask, kernel_size=(1, size), stride=1, padding=(0, radius))
    return F.max_pool2d(rows, kernel_size=(size, 1), stride=1, padding=(radius, 0))


def erode(mask: Tensor, radius: int) -> Tensor:
    """Shrink a (B, C, H, W) mask by `radius` pixels (the dual of `dilate`; outside counts as set)."""
    if radius <= 0:
        return mask
    return 1 - dilate(1 - mask, radius)
