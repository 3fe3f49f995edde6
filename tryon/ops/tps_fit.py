"""Fitting TPS control points to a target mask at inference.

The regressor predicts the warp in one pass and, trained for minutes rather than days, leaves
sleeves short of bent arms and hems off the waist. At inference the target region is known (G2's
mask), so a few gradient steps on the control points close that gap directly: they maximise the
soft Dice overlap of the warped garment mask with the target, under the same second-order
constraint that keeps the grid smooth in training, starting from the regressor's points.

The dense grid is linear in the control-point offsets (`tps_offset_map`), so each step is one
matrix product and one `grid_sample` of a mask at a reduced size; the fitted points then warp the
garment at full resolution, as the regressor's would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tryon.ops.tps import (
    full_precision,
    pixel_centres,
    regular_grid,
    second_order_constraint,
    tps_basis,
    tps_system,
)


@dataclass(frozen=True)
class TPSFit:
    """How the control points are fitted: Adam `steps` of size `lr` on the soft Dice loss plus
    `constraint` times the second-order constraint, on masks resized to at most `max_height`."""

    steps: int
    lr: float
    constraint: float
    max_height: int


def tps_offset_map(k: int, height: int, width: int, *, device: torch.device | None = None) -> Tensor:
    """The (H * W, K * K) matrix taking control-point offsets from the regular K x K grid to
    displacements of every pixel centre: grid = pixel_centres + map @ offsets (`tps_sampling_grid`)."""
    centres = regular_grid(k, device=device)
    count = k * k
    # The TPS coefficients are the system's inverse applied to the offsets padded with zero rows,
    # so only the inverse's first K * K columns act.
    inverse = torch.linalg.inv(tps_system(centres))[:, :count]
    return tps_basis(pixel_centres(height, width, device=device), centres) @ inverse


def fit_size(height: int, width: int, max_height: int) -> tuple[int, int]:
    """The mask size the fit runs at: (height, width) scaled down to at most `max_height` rows."""
    if height <= max_height:
        return height, width
    return max_height, max(1, round(width * max_height / height))


def soft_dice_loss(mask: Tensor, target: Tensor) -> Tensor:
    """(B,) one minus the soft Dice overlap of (B, 1, H, W) masks in [0, 1]."""
    intersection = (mask * target).sum(dim=(1, 2, 3))
    total = mask.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    return 1 - 2 * intersection / total.clamp_min(1e-6)


def fit_control_points(
    control_points: Tensor, garment_mask: Tensor, target_mask: Tensor, *, fit: TPSFit
) -> Tensor:
    """Control points (B, K * K, 2), float32, fitted so that the TPS warps `garment_mask` (B, 1, H, W)
    onto `target_mask` (B, 1, H, W); no gradient flows to the inputs.

    Runs in float32 with autocast off and with gradients on even under `torch.inference_mode`
    (the inputs are copied out of it), so it serves the inference pipeline and evaluation alike.
    Samples with an empty target keep their points (their Dice loss has no gradient).
    """
    if fit.steps == 0:
        return control_points
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    size = fit_size(*target_mask.shape[-2:], fit.max_height)
    device = control_points.device
    with torch.inference_mode(False), torch.enable_grad(), full_precision(device):
        start = control_points.detach().float().clone()
        garment = F.interpolate(garment_mask.detach().float().clone(), size=size, mode="area")
        target = F.interpolate(target_mask.detach().float().clone(), size=size, mode="area")
        offset_map = tps_offset_map(k, *size, device=device)
        identity = pixel_centres(*size, device=device)
        centres = regular_grid(k, device=device)
        delta = torch.zeros_like(start, requires_grad=True)
        optimizer = torch.optim.Adam([delta], lr=fit.lr)
        for _ in range(fit.steps):
            points = start + delta
            grid = (identity + offset_map @ (points - centres)).view(batch, *size, 2)
            warped = F.grid_sample(garment, grid, padding_mode="zeros", align_corners=False)
            # Summed over the batch: each sample's points get their own gradient, unscaled by B.
            loss = (soft_dice_loss(warped, target) + fit.constraint * second_order_constraint(points)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (start + delta).detach()
