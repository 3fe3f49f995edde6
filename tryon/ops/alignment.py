"""The alignment of a garment mask onto a target region by their first and second moments.

The TPS warp starts from this alignment and learns only the residual: matching the masks' centres
of mass and their spreads along x and y (an axis-aligned scale and shift) already puts the garment
on the torso at about the size it is worn, so a warper that has learned nothing is no worse than a
box paste. Moments, unlike bounding boxes, are not pulled about by thin sleeves held away from
the body. Coordinates are grid_sample's (see `tryon.ops.tps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tryon.ops.tps import pixel_centres


@dataclass(frozen=True)
class MaskAlignment:
    """Maps points of the target frame to the garment frame: source_centre + (p - target_centre) * scale.

    Each field is (B, 1, 2), (x, y); an empty mask on either side gives the identity.
    """

    source_centre: Tensor
    target_centre: Tensor
    scale: Tensor

    def apply(self, points: Tensor) -> Tensor:
        """(N, 2) or (B, N, 2) target-frame points to (B, N, 2) garment-frame points."""
        return self.source_centre + (points - self.target_centre) * self.scale

    def apply_to_offsets(self, offsets: Tensor) -> Tensor:
        """(B, N, 2) displacements in the target frame as displacements in the garment frame."""
        return offsets * self.scale


def identity_alignment(batch: int, *, device: torch.device | None = None) -> MaskAlignment:
    """The alignment that changes nothing, for `batch` samples."""
    zeros = torch.zeros(batch, 1, 2, device=device)
    return MaskAlignment(source_centre=zeros, target_centre=zeros, scale=torch.ones_like(zeros))


def mask_moments(mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Centre of mass (B, 1, 2), standard deviation along x and y (B, 1, 2) and pixel count (B, 1, 1)
    of (B, 1, H, W) masks in [0, 1], in normalised coordinates."""
    height, width = mask.shape[-2:]
    points = pixel_centres(height, width, device=mask.device)  # (H * W, 2)
    weights = mask.float().reshape(mask.shape[0], -1, 1)  # (B, H * W, 1)
    count = weights.sum(dim=1, keepdim=True)
    centre = (weights * points).sum(dim=1, keepdim=True) / count.clamp_min(1)
    variance = (weights * (points - centre).square()).sum(dim=1, keepdim=True) / count.clamp_min(1)
    return centre, variance.sqrt(), count


def align_masks(source_mask: Tensor, target_mask: Tensor) -> MaskAlignment:
    """The moment alignment taking `target_mask` (B, 1, H, W) onto `source_mask` (B, 1, H, W).

    Computed on the device without reading anything back to the host; no gradient flows through it.
    """
    with torch.no_grad():
        source_centre, source_spread, source_count = mask_moments(source_mask)
        target_centre, target_spread, target_count = mask_moments(target_mask)
        # One pixel's width is the smallest spread a mask can honestly have.
        pixel = 2.0 / max(source_mask.shape[-2:])
        scale = source_spread.clamp_min(pixel) / target_spread.clamp_min(pixel)
        valid = (source_count > 0) & (target_count > 0)
        return MaskAlignment(
            source_centre=torch.where(valid, source_centre, torch.zeros_like(source_centre)),
            target_centre=torch.where(valid, target_centre, torch.zeros_like(target_centre)),
            scale=torch.where(valid, scale, torch.ones_like(scale)),
        )
