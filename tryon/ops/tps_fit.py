"""Fitting TPS control points to a target mask at inference.

The regressor predicts the warp in one pass and, trained for minutes rather than days, leaves
sleeves short of bent arms and hems off the waist. At inference the target region is known (G2's
mask), so a few gradient steps on the control points close that gap directly: they maximise the
soft Dice overlap of the warped garment mask with the target, under the same second-order
constraint that keeps the grid smooth in training, starting from the regressor's points.

The dense grid is linear in the control-point offsets (`tryon.ops.tps.tps_offset_map`), so each step is one
matrix product and one `grid_sample` of a mask at a reduced size, and its gradient is
`grid_sample`'s backward and the transposed product; the fitted points then warp the garment at
full resolution, as the regressor's would.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tryon.ops.tps import dense_tps_map, full_precision, regular_grid

DICE_EPS = 1e-6
"""The soft Dice loss's floor on its denominator (both masks empty)."""

BILINEAR, ZEROS_PADDING = 0, 0
"""`grid_sample`'s bilinear mode and zero padding as its ATen backward numbers them."""


@dataclass(frozen=True)
class TPSFit:
    """How the control points are fitted: Adam `steps` of size `lr` on the soft Dice loss plus
    `constraint` times the second-order constraint, on masks resized to at most `max_height`."""

    steps: int
    lr: float
    constraint: float
    max_height: int


def fit_size(height: int, width: int, max_height: int) -> tuple[int, int]:
    """The mask size the fit runs at: (height, width) scaled down to at most `max_height` rows."""
    if height <= max_height:
        return height, width
    return max_height, max(1, round(width * max_height / height))


def soft_dice_loss(mask: Tensor, target: Tensor) -> Tensor:
    """(B,) one minus the soft Dice overlap of (B, 1, H, W) masks in [0, 1]."""
    intersection = (mask * target).sum(dim=(1, 2, 3))
    total = mask.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    return 1 - 2 * intersection / total.clamp_min(DICE_EPS)


ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
"""`torch.optim.Adam`'s defaults, which the fit's update follows step for step."""


@dataclass(frozen=True)
class FitOperators:
    """The fixed linear maps of a fit at one size, transposed so that the batch is folded into rows:
    a batch of (B, K * K, 2) points is held as a (2 * B, K * K) matrix, and each product below is one
    wide matrix product (the (H * W, K * K) map times a (K * K, 2) matrix, the way round the map is
    defined, is several times slower on the CPU: its output is two columns wide)."""

    offset_map: Tensor  # (H * W, K * K) `tps_offset_map`: the gradient's product
    offset_map_t: Tensor  # its transpose, contiguous: the grid's product
    base_t: Tensor  # (2, H * W) the grid of zero points: pixel centres minus the regular grid's map


def stencil_gradient(points: Tensor, k: int) -> Tensor:
    """The gradient of `second_order_constraint` at folded (2 * B, K * K) points, folded alike: the
    constraint is a sum of squared second differences d, so its gradient scatters 2 d back with
    the stencil's weights (1, -2, 1), as autograd does."""
    grid = points.view(-1, k, k)
    gradient = torch.zeros_like(grid)
    for dim in (1, 2):
        before, centre, after = (grid.narrow(dim, start, k - 2) for start in range(3))
        twice = 2 * (before - 2 * centre + after)
        gradient.narrow(dim, 0, k - 2).add_(twice)
        gradient.narrow(dim, 1, k - 2).sub_(2 * twice)
        gradient.narrow(dim, 2, k - 2).add_(twice)
    return gradient.view_as(points)


@functools.cache
def constraint_matrix(k: int, device: torch.device) -> Tensor:
    """(K * K, K * K) the matrix of the constraint's gradient: `points @ it` for folded points.

    The gradient is linear in the points, so one product replaces the stencil's two dozen small
    kernels per fit step. The entries are small integers, so on an affine grid of dyadic points
    (the regular grid, scaled and shifted by powers of two) every product and partial sum is exact
    and the gradient is exactly zero, as the stencil's and autograd's are: a rounding residue
    there would become a move of Adam's full step size, which normalises the gradient.
    """
    return stencil_gradient(torch.eye(k * k, device=device), k)


def constraint_gradient(points: Tensor, k: int) -> Tensor:
    """The gradient of `second_order_constraint` at folded (2 * B, K * K) points, folded alike."""
    return points @ constraint_matrix(k, points.device)


@functools.lru_cache(maxsize=4)
def fit_operators(k: int, height: int, width: int, device: torch.device) -> FitOperators:
    """The operators of a K x K fit at `height` x `width`, built once per size and device (float32:
    the fit runs with autocast off): the dense grid's map for that size (`tryon.ops.tps.dense_tps_map`)
    and its grid at all-zero points, to which a step adds the points' product."""
    identity_t, offset_map_t = dense_tps_map(k, height, width, device)
    centres_t = regular_grid(k, device=device).T.contiguous()
    return FitOperators(
        offset_map=offset_map_t.T,
        offset_map_t=offset_map_t,
        base_t=torch.addmm(identity_t, centres_t, offset_map_t, alpha=-1),
    )


def fold(points: Tensor) -> Tensor:
    """(B, N, 2) to (2 * B, N): sample b's x and y in rows 2b and 2b + 1."""
    return points.transpose(1, 2).reshape(-1, points.shape[1])


def unfold(folded: Tensor, batch: int) -> Tensor:
    """The inverse of `fold`: (2 * B, N) to (B, N, 2)."""
    return folded.view(batch, 2, -1).transpose(1, 2)


def soft_dice_gradient(warped: Tensor, target: Tensor) -> Tensor:
    """d/d`warped` of `soft_dice_loss` summed over the batch, as autograd takes it (the clamp of the
    denominator included): (-2 target + 2 I / T [T >= eps]) / max(T, eps) per sample."""
    return DiceTarget.of(target).gradient(warped)


@dataclass(frozen=True)
class DiceTarget:
    """A target mask (B, 1, H, W) with what the Dice gradient needs of it at every fit step."""

    mask: Tensor
    with_ones: Tensor  # (B, H * W, 2): the mask and ones, so that one product sums I and the mask
    total: Tensor  # (B, 1, 1) the mask's sum

    @classmethod
    def of(cls, target: Tensor) -> DiceTarget:
        flat = target.reshape(target.shape[0], -1, 1)
        return cls(
            mask=target, with_ones=torch.cat([flat, torch.ones_like(flat)], dim=2), total=flat.sum(1, True)
        )

    def gradient(self, warped: Tensor) -> Tensor:
        """`soft_dice_gradient(warped, self.mask)` in two full-size kernels: one product for both
        sums, one multiply-add for the gradient."""
        sums = torch.bmm(warped.reshape(warped.shape[0], 1, -1), self.with_ones)  # (B, 1, 2): I, sum
        intersection, total = sums.split(1, dim=2)
        total = total + self.total
        clamped = total.clamp_min(DICE_EPS)
        through_total = 2 * intersection / clamped * (total >= DICE_EPS)
        shape = (-1, 1, 1, 1)
        return torch.addcmul((through_total / clamped).view(shape), self.mask, (-2 / clamped).view(shape))


def fit_control_points(
    control_points: Tensor, garment_mask: Tensor, target_mask: Tensor, *, fit: TPSFit
) -> Tensor:
    """Control points (B, K * K, 2), float32, fitted so that the TPS warps `garment_mask` (B, 1, H, W)
    onto `target_mask` (B, 1, H, W); no gradient flows to the inputs.

    Each step minimises, summed over the batch (so each sample's points get their own, unscaled
    gradient), the soft Dice loss of the warped mask plus `fit.constraint` times the second-order
    constraint, with Adam. The gradient is written out rather than taken by autograd: the grid is
    linear in the points (`FitOperators`), `grid_sample`'s own backward gives the gradient at the
    grid, the constraint's is a fixed matrix (`constraint_matrix`) and the Dice loss's two sums are
    one product (`DiceTarget`); so a step is about twenty kernels without a graph, the same under
    `torch.inference_mode` as outside it, and equal to autograd's within rounding.
    Runs in float32 with autocast off. Samples with an empty target keep their points (their Dice
    loss has no gradient).
    """
    if fit.steps == 0:
        return control_points
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    size = fit_size(*target_mask.shape[-2:], fit.max_height)
    device = control_points.device
    beta1, beta2 = ADAM_BETAS
    with torch.no_grad(), full_precision(device):
        ops = fit_operators(k, *size, device)
        garment, target = (resized(mask.detach().float(), size) for mask in (garment_mask, target_mask))
        dice = DiceTarget.of(target)
        base = ops.base_t.repeat(batch, 1)  # (2 * B, H * W), folded as the points are
        points = fold(control_points.detach().float()).clone()  # updated in place: never the caller's
        gradient = torch.empty_like(points)
        exp_avg, exp_avg_sq = torch.zeros_like(points), torch.zeros_like(points)
        step = torch.zeros((), device=device)
        for _ in range(fit.steps):
            grid = torch.addmm(base, points, ops.offset_map_t)
            grid = grid.view(batch, 2, *size).permute(0, 2, 3, 1)  # (B, H, W, 2), x and y last
            warped = F.grid_sample(garment, grid, padding_mode="zeros", align_corners=False)
            grid_gradient = torch.ops.aten.grid_sampler_2d_backward(
                dice.gradient(warped), garment, grid, BILINEAR, ZEROS_PADDING, False, [False, True]
            )[1]
            torch.addmm(
                constraint_gradient(points, k),
                fold(grid_gradient.view(batch, -1, 2)),
                ops.offset_map,
                beta=fit.constraint,
                out=gradient,
            )
            # Adam as `torch.optim.Adam(fused=True)` takes its step (defaults, no weight decay): one
            # kernel for the moments and the update where the unfused step takes seven.
            step.add_(1)
            torch._fused_adam_(
                [points],
                [gradient],
                [exp_avg],
                [exp_avg_sq],
                [],
                [step],
                lr=fit.lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=ADAM_EPS,
                amsgrad=False,
                maximize=False,
            )
        return unfold(points, batch).contiguous()


def resized(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """A (B, 1, H, W) mask area-averaged to `size`; as it is where it already has that size."""
    if tuple(mask.shape[-2:]) == size:
        return mask
    return F.interpolate(mask, size=size, mode="area")
