"""ACGPN's clothes warping module (CWM): a TPS spatial transformer and a refinement U-Net."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tryon.config import ModelConfig
from tryon.nets.channels import MASK, RGB
from tryon.nets.unet import UNet
from tryon.ops.alignment import MaskAlignment, align_masks, identity_alignment
from tryon.ops.tps import TPSGridGenerator, pixel_centres, regular_grid
from tryon.ops.tps_fit import TPSFit, fit_control_points

REGRESSOR_IN_CHANNELS = RGB + MASK + MASK
"""The garment, its mask and the target worn-garment mask."""

REFINE_IN_CHANNELS = RGB + MASK + MASK
"""The warped garment, the warped garment mask and the target worn-garment mask."""

REFINE_OUT_CHANNELS = RGB + MASK
"""A rendered garment and the mask that composes it with the warped garment."""


def conv_group_relu(in_channels: int, out_channels: int, *, stride: int) -> list[nn.Module]:
    # One normalisation group: works at batch 1 and on the 1x1 maps that small images reach. No
    # bias: the norm subtracts it again.
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(1, out_channels),
        nn.ReLU(inplace=True),
    ]


class TPSRegressor(nn.Module):
    """Regresses (B, K * K, 2) control-point offsets, bounded by `max_offset`, zero at initialisation.

    A strided CNN encoder (`levels` 3x3 stride-2 convs, `width` channels doubling per level, then
    two 3x3 convs) pooled to a K x K map, so that each control point has a cell of features and the
    head does not depend on the image size; then a two-layer head and a tanh scaled to `max_offset`
    (ACGPN's and CP-VTON's regressors bound their output the same way, so that no control point can
    fly off and fold the grid). The last layer starts at zero, so a fresh regressor adds nothing to
    the warp it refines.
    """

    def __init__(
        self, in_channels: int, *, grid_size: int, width: int, levels: int, hidden: int, max_offset: float
    ) -> None:
        super().__init__()
        widths = [width * 2**level for level in range(levels)]
        layers: list[nn.Module] = []
        for previous, current in zip([in_channels, *widths[:-1]], widths, strict=True):
            layers += conv_group_relu(previous, current, stride=2)
        for _ in range(2):
            layers += conv_group_relu(widths[-1], widths[-1], stride=1)
        self.grid_size = grid_size
        self.max_offset = max_offset
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(grid_size), nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(widths[-1] * grid_size**2, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, grid_size**2 * 2),
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) to (B, K * K, 2) offsets in normalised coordinates, each within +-max_offset."""
        offsets = self.head(self.encoder(x)).view(x.shape[0], self.grid_size**2, 2)
        return self.max_offset * offsets.tanh()


def sample_garment(garment: Tensor, garment_mask: Tensor, grid: Tensor) -> Tensor:
    """The garment (B, 3, H, W) and its mask (B, 1, H, W) sampled on a float32 (B, H, W, 2) grid, stacked.

    The images follow the grid's dtype and come back in their own (see `tps_sampling_grid`). Border
    padding for the garment (its laydown backdrop continues), zeros for the mask.
    """

    def sample(image: Tensor, padding: str) -> Tensor:
        return F.grid_sample(image.to(grid.dtype), grid, padding_mode=padding, align_corners=False).to(image.dtype)

    return torch.cat([sample(garment, "border"), sample(garment_mask, "zeros")], dim=1)


@dataclass(frozen=True)
class WarpOutput:
    """What the warping module produces for a garment and a target mask.

    warped_garment: (B, 3, H, W) the garment under the TPS warp.
    warped_mask: (B, 1, H, W) its mask under the same warp.
    refined_garment: (B, 3, H, W) the refined warped garment, zero outside the target mask.
    composition_mask: (B, 1, H, W) in [0, 1], where the refined garment copies the warped one.
    control_points: (B, K * K, 2) where the regular grid's points sample the garment.
    grid: (B, H, W, 2) the dense grid_sample grid.
    """

    warped_garment: Tensor
    warped_mask: Tensor
    refined_garment: Tensor
    composition_mask: Tensor
    control_points: Tensor
    grid: Tensor


class GarmentWarper(nn.Module):
    """CWM: warps the laydown garment onto the target worn-garment mask and refines the result.

    The warp starts from the moment alignment of the garment mask onto the target mask
    (`tryon.ops.alignment`; the identity with `align_moments` off, as ACGPN); the regressor sees the
    garment so aligned and predicts bounded control-point offsets around it, so that an untrained
    warper already places the garment on the torso and training learns only the residual bending.
    With `fit_to_target`, the inference pipeline's call, the regressed control points are then
    fitted to the target mask (`tryon.ops.tps_fit`, `fit.steps` of them; none when 0).

    The refinement sees the warped garment detached and composes with a detached copy, as in ACGPN:
    the warp is trained only by the losses on `warped_garment` and `warped_mask`, and the refinement
    losses stop at the TPS, so the refinement cannot excuse a bad warp by pulling it its own way.
    """

    def __init__(
        self,
        *,
        grid_size: int,
        regressor_width: int,
        regressor_levels: int,
        regressor_hidden: int,
        max_offset: float,
        align_moments: bool,
        fit: TPSFit,
        base_width: int,
        depth: int,
        max_width: int,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.regressor = TPSRegressor(
            REGRESSOR_IN_CHANNELS,
            grid_size=grid_size,
            width=regressor_width,
            levels=regressor_levels,
            hidden=regressor_hidden,
            max_offset=max_offset,
        )
        self.align_moments = align_moments
        self.fit = fit
        self.tps = TPSGridGenerator(grid_size)
        self.register_buffer("regular_grid", regular_grid(grid_size), persistent=False)
        self.refine = UNet(
            REFINE_IN_CHANNELS,
            REFINE_OUT_CHANNELS,
            base_width=base_width,
            depth=depth,
            max_width=max_width,
            checkpointing=checkpointing,
        )

    @classmethod
    def from_config(cls, config: ModelConfig, *, checkpointing: bool = False) -> Self:
        """The warper with the TPS grid and widths of `config`."""
        return cls(
            grid_size=config.tps_grid,
            regressor_width=config.tps_width,
            regressor_levels=config.tps_levels,
            regressor_hidden=config.tps_hidden,
            max_offset=config.tps_max_offset,
            align_moments=config.tps_align_moments,
            fit=TPSFit(
                steps=config.tps_fit_steps,
                lr=config.tps_fit_lr,
                constraint=config.tps_fit_constraint,
                max_height=config.tps_fit_height,
            ),
            base_width=config.base_width,
            depth=config.depth,
            max_width=config.max_width,
            checkpointing=checkpointing,
        )

    def alignment(self, garment_mask: Tensor, target_mask: Tensor) -> MaskAlignment:
        """Where the regressor's offsets start from: the moment alignment, or the identity."""
        if self.align_moments:
            return align_masks(garment_mask, target_mask)
        return identity_alignment(garment_mask.shape[0], device=garment_mask.device)

    def forward(
        self, *, garment: Tensor, garment_mask: Tensor, target_mask: Tensor, fit_to_target: bool = False
    ) -> WarpOutput:
        """Warp `garment` (B, 3, H, W) and `garment_mask` (B, 1, H, W) onto `target_mask` (B, 1, H, W)."""
        height, width = garment.shape[-2:]
        alignment = self.alignment(garment_mask, target_mask)
        aligned_grid = alignment.apply(pixel_centres(height, width, device=garment.device))
        aligned = sample_garment(garment, garment_mask, aligned_grid.view(-1, height, width, 2))
        offsets = self.regressor(torch.cat([aligned, target_mask], dim=1))
        # Offsets are learned in the target frame (where the regressor looks) and carried through
        # the alignment's scale into the garment frame, where the control points sample.
        control_points = alignment.apply(self.regular_grid) + alignment.apply_to_offsets(offsets)
        if fit_to_target:
            control_points = fit_control_points(control_points, garment_mask, target_mask, fit=self.fit)
        grid = self.tps(control_points, height, width)
        warped = sample_garment(garment, garment_mask, grid)
        warped_garment, warped_mask = warped[:, :RGB], warped[:, RGB:]

        refined = self.refine(torch.cat([warped.detach(), target_mask], dim=1))
        rendered = refined[:, :RGB].tanh()
        composition_mask = refined[:, RGB:].sigmoid() * target_mask
        refined_garment = (
            rendered * (1 - composition_mask) + composition_mask * warped_garment.detach()
        ) * target_mask
        return WarpOutput(
            warped_garment=warped_garment,
            warped_mask=warped_mask,
            refined_garment=refined_garment,
            composition_mask=composition_mask,
            control_points=control_points,
            grid=grid,
        )
