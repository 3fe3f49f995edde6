"""The TPS fit's written-out gradient and Adam step against autograd and `torch.optim.Adam`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tryon.ops.tps import pixel_centres, regular_grid, second_order_constraint, tps_offset_map
from tryon.ops.tps_fit import (
    TPSFit,
    constraint_gradient,
    fit_control_points,
    fit_size,
    fold,
    soft_dice_gradient,
    soft_dice_loss,
    unfold,
)

H, W = 64, 48


def autograd_fit(
    control_points: torch.Tensor, garment_mask: torch.Tensor, target_mask: torch.Tensor, fit: TPSFit
):
    """The fit as a graph and an optimiser: the definition the written-out fit must reproduce."""
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    size = fit_size(*target_mask.shape[-2:], fit.max_height)
    garment = F.interpolate(garment_mask.float(), size=size, mode="area")
    target = F.interpolate(target_mask.float(), size=size, mode="area")
    offset_map = tps_offset_map(k, *size)
    identity = pixel_centres(*size)
    centres = regular_grid(k)
    start = control_points.float().clone()
    delta = torch.zeros_like(start, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=fit.lr)
    for _ in range(fit.steps):
        points = start + delta
        grid = (identity + offset_map @ (points - centres)).view(batch, *size, 2)
        warped = F.grid_sample(garment, grid, padding_mode="zeros", align_corners=False)
        loss = (soft_dice_loss(warped, target) + fit.constraint * second_order_constraint(points)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (start + delta).detach()


def masks(batch: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    garment = torch.zeros(batch, 1, height, width)
    garment[..., height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1
    garment[..., 5 * height // 8 :, : 3 * width // 8] = 0  # a cut corner: the fit bends the grid
    target = torch.zeros(batch, 1, height, width)
    for sample in range(batch):
        shift = 2 + 3 * sample
        target[sample, :, height // 5 + shift : 4 * height // 5, width // 6 : 5 * width // 6 - shift] = 1
    return garment, target


@pytest.mark.parametrize(("batch", "height", "width", "max_height"), [(1, H, W, 64), (3, H, W, 32)])
def test_the_written_out_fit_equals_the_autograd_fit(batch, height, width, max_height):
    torch.manual_seed(0)
    fit = TPSFit(steps=30, lr=0.03, constraint=0.01, max_height=max_height)
    start = regular_grid(5).expand(batch, -1, -1) + 0.05 * torch.randn(batch, 25, 2)
    garment, target = masks(batch, height, width)
    expected = autograd_fit(start, garment, target, fit)
    with torch.inference_mode():
        fitted = fit_control_points(start, garment, target, fit=fit)
    assert fitted.shape == start.shape and fitted.is_contiguous()
    assert (expected - start).abs().max() > 0.01  # the fit moved the points: the comparison means something
    torch.testing.assert_close(fitted, expected, atol=1e-4, rtol=0)


def test_the_dice_gradient_is_autograds_also_for_empty_masks():
    torch.manual_seed(0)
    warped = torch.rand(3, 1, 8, 6)
    warped[2] = 0
    target = (torch.rand(3, 1, 8, 6) > 0.5).float()
    target[1:] = 0  # sample 1: empty target; sample 2: both empty (the clamped denominator)
    leaf = warped.clone().requires_grad_(True)
    soft_dice_loss(leaf, target).sum().backward()
    torch.testing.assert_close(soft_dice_gradient(warped, target), leaf.grad, atol=1e-7, rtol=1e-5)


def test_the_constraint_gradient_is_autograds_and_exactly_zero_on_an_affine_grid():
    torch.manual_seed(0)
    points = (regular_grid(5) + 0.1 * torch.randn(2, 25, 2)).requires_grad_(True)
    second_order_constraint(points).sum().backward()
    written = unfold(constraint_gradient(fold(points.detach()), 5), 2)
    torch.testing.assert_close(written, points.grad, atol=1e-6, rtol=1e-5)
    shear = torch.tensor([[0.75, 0.25], [-0.125, 1.5]])  # dyadic: the affine grid is exact in float32
    affine = (regular_grid(5) @ shear + torch.tensor([0.0625, -0.03125])).unsqueeze(0)
    # Exactly zero, as autograd's: Adam's normalised step turns rounding noise into moves of its size.
    assert torch.equal(constraint_gradient(fold(affine), 5), torch.zeros(2, 25))


def test_the_fit_leaves_its_inputs_unchanged():
    garment, target = masks(1, H, W)
    start = regular_grid(5).expand(1, -1, -1).clone()
    before = start.clone()
    fitted = fit_control_points(
        start, garment, target, fit=TPSFit(steps=5, lr=0.03, constraint=0.01, max_height=64)
    )
    assert (fitted - before).abs().max() > 0
    assert torch.equal(start, before)


def test_the_fit_from_an_affine_grid_equals_the_autograd_fit():
    # An untrained regressor's points are an affine map of the regular grid, where the constraint's
    # gradient is exactly zero and Adam would amplify any rounding difference to its step size.
    fit = TPSFit(steps=30, lr=0.03, constraint=0.01, max_height=64)
    start = (regular_grid(5) * 0.75 + torch.tensor([0.0625, -0.125])).unsqueeze(0)
    garment, target = masks(1, H, W)
    expected = autograd_fit(start, garment, target, fit)
    with torch.inference_mode():
        fitted = fit_control_points(start, garment, target, fit=fit)
    assert (expected - start).abs().max() > 0.01
    torch.testing.assert_close(fitted, expected, atol=1e-4, rtol=0)
