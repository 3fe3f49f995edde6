"""Random irregular masks (strokes and blobs) for teaching G3 to inpaint skin.

In paired training the arm pixels G3 must draw are few (only where G1's layout disagrees with the
photo), so G3 never learns to paint an arm where a sleeve was. ACGPN's training cuts random
free-form masks out of the arms for G3 to fill in; these are drawn on the fly from a seeded NumPy
generator on the host (a few dozen numbers, so nothing is read back from the device), and a
sample's mask depends only on its seed: a resumed or distributed run draws the same masks as a
single uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tryon.ops.tps import pixel_centres

STROKES = (1, 4)  # strokes per mask, inclusive range
STROKE_VERTICES = 3  # vertices of a stroke's polyline
STROKE_WIDTH = (0.04, 0.12)  # stroke thickness as a fraction of the image height
BLOBS = (0, 3)  # ellipses per mask, inclusive range
BLOB_RADIUS = (0.04, 0.12)  # ellipse semi-axes as a fraction of the image height


def _uniform(generator: np.random.Generator, low: float, high: float, *shape: int) -> Tensor:
    return torch.from_numpy(generator.uniform(low, high, shape).astype(np.float32))


def _count(generator: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(generator.integers(bounds[0], bounds[1] + 1))


def segment_distance(points: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """Distance from each of (P, 2) points to each of (S, 2) -> (S, 2) segments, as (S, P)."""
    direction = ends - starts  # (S, 2)
    length = direction.square().sum(dim=1, keepdim=True).clamp_min(1e-12)  # (S, 1)
    relative = points[None] - starts[:, None]  # (S, P, 2)
    along = ((relative * direction[:, None]).sum(dim=2) / length).clamp(0, 1)  # (S, P)
    closest = starts[:, None] + along[..., None] * direction[:, None]
    return (points[None] - closest).norm(dim=2)


def irregular_mask(height: int, width: int, *, generator: np.random.Generator, device: torch.device) -> Tensor:
    """One (1, H, W) float mask of random thick polyline strokes and ellipses.

    Shapes are drawn in a frame scaled by the height (x in [0, W/H], y in [0, 1]), so a mask looks
    the same at every resolution. The random numbers come from `generator` on the host; the
    rasterisation runs on `device`.
    """
    aspect = width / height
    scale = torch.tensor([aspect, 1.0])
    strokes = _count(generator, STROKES)
    vertices = _uniform(generator, 0, 1, strokes, STROKE_VERTICES, 2) * scale
    starts, ends = vertices[:, :-1].reshape(-1, 2), vertices[:, 1:].reshape(-1, 2)
    widths = _uniform(generator, *STROKE_WIDTH, strokes).repeat_interleave(STROKE_VERTICES - 1)
    blobs = _count(generator, BLOBS)
    centres = _uniform(generator, 0, 1, blobs, 2) * scale
    radii = _uniform(generator, *BLOB_RADIUS, blobs, 2)

    pixels = (pixel_centres(height, width, device=device) + 1) / 2 * scale.to(device)  # (P, 2)
    distances = segment_distance(pixels, starts.to(device), ends.to(device))
    covered = (distances <= widths.to(device)[:, None] / 2).any(dim=0)
    if blobs:
        relative = (pixels[None] - centres.to(device)[:, None]) / radii.to(device)[:, None]
        covered = covered | (relative.square().sum(dim=2) <= 1).any(dim=0)
    return covered.reshape(1, height, width).float()
