"""Binary mask morphology by max pooling: on the device, batched, differentiable where it matters.

ACGPN dilates and erodes with OpenCV on the host, one sample at a time (`morpho` in its model
file); a (2r + 1)-square max pool is the same operation with a square structuring element.
"""

from __future__ import annotations

import torch
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

    The square is separable, so a row pass then a column pass. Where no gradient is taken (the
    try-on), each pass is a running max by doubling windows, O(log r) elementwise maxima per pixel:
    CPU max pooling with a long window is several times slower, and computes indices nobody reads.
    Where one is, max pooling gives it (one gradient per window, to its maximum); the values are
    the same either way.
    """
    if radius <= 0:
        return mask
    size = 2 * radius + 1
    if torch.is_grad_enabled() and mask.requires_grad:
        rows = F.max_pool2d(mask, kernel_size=(1, size), stride=1, padding=(0, radius))
        return F.max_pool2d(rows, kernel_size=(size, 1), stride=1, padding=(radius, 0))
    return running_max(running_max(mask, size, dim=-1), size, dim=-2)


def running_max(values: Tensor, size: int, *, dim: int) -> Tensor:
    """The max over each centred window of odd `size` along `dim`, the outside not counting (as max
    pooling's padding): windows double from 1 while they fit, and a last max of two overlapping
    windows completes `size`."""
    radius = size // 2
    pad = [0, 0] * (-dim - 1) + [radius, radius]
    out = F.pad(values, pad, value=float("-inf"))
    window = 1
    while 2 * window <= size:
        length = out.shape[dim] - window
        out = torch.maximum(out.narrow(dim, 0, length), out.narrow(dim, window, length))
        window *= 2
    if window < size:
        shift = size - window  # at most `window`: the two windows overlap or touch
        length = out.shape[dim] - shift
        out = torch.maximum(out.narrow(dim, 0, length), out.narrow(dim, shift, length))
    return out


def erode(mask: Tensor, radius: int) -> Tensor:
    """Shrink a (B, C, H, W) mask by `radius` pixels (the dual of `dilate`; outside counts as set)."""
    if radius <= 0:
        return mask
    return 1 - dilate(1 - mask, radius)
