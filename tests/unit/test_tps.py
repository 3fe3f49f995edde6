"""TPS sampling grids, the second-order constraint, and gradient flow through the warper."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from tryon.config import ModelConfig, Resolution
from tryon.nets.warp import GarmentWarper
from tryon.ops.tps import TPSGridGenerator, regular_grid, second_order_constraint, tps_sampling_grid

K = 5
HEIGHT, WIDTH = 64, 48


def smooth_image(batch: int = 2) -> torch.Tensor:
    """A smooth test image, so bilinear resampling differences stay small and meaningful."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, HEIGHT), torch.linspace(-1, 1, WIDTH), indexing="ij")
    channels = torch.stack([torch.sin(3 * x), torch.cos(2 * y), x * y])
    return channels.expand(batch, -1, -1, -1)


def bent(amplitude: float, batch: int = 2) -> torch.Tensor:
    """The regular grid with its x coordinates bent by `amplitude` * y^2."""
    points = regular_grid(K).expand(batch, -1, -1).clone()
    points[..., 0] += amplitude * points[..., 1].square()
    return points


def test_regular_grid_spans_the_square_row_by_row():
    points = regular_grid(K)
    assert points.shape == (K * K, 2)
    assert torch.equal(points[0], torch.tensor([-1.0, -1.0]))
    assert torch.equal(points[1], torch.tensor([-0.5, -1.0]))  # x varies fastest
    assert torch.equal(points[-1], torch.tensor([1.0, 1.0]))


def test_zero_offsets_give_the_identity_warp():
    image = torch.rand(2, 3, HEIGHT, WIDTH)
    grid = TPSGridGenerator(K)(regular_grid(K).expand(2, -1, -1), HEIGHT, WIDTH)
    identity = F.affine_grid(torch.eye(2, 3).expand(2, -1, -1), [2, 3, HEIGHT, WIDTH], align_corners=False)
    torch.testing.assert_close(grid, identity, atol=1e-6, rtol=0)
    warped = F.grid_sample(image, grid, align_corners=False)
    torch.testing.assert_close(warped, image, atol=1e-5, rtol=0)


def test_affine_control_points_match_affine_grid():
    scale, shift = 0.8, 0.2
    control_points = scale * regular_grid(K).expand(2, -1, -1) + shift
    grid = tps_sampling_grid(control_points, HEIGHT, WIDTH)
    theta = torch.tensor([[scale, 0.0, shift], [0.0, scale, shift]]).expand(2, -1, -1)
    expected_grid = F.affine_grid(theta, [2, 3, HEIGHT, WIDTH], align_corners=False)
    torch.testing.assert_close(grid, expected_grid, atol=1e-5, rtol=0)

    image = smooth_image()
    warped = F.grid_sample(image, grid, align_corners=False)
    expected = F.grid_sample(image, expected_grid, align_corners=False)
    torch.testing.assert_close(warped, expected, atol=1e-5, rtol=0)


def test_the_spline_passes_through_the_control_points():
    # A 2x2 image has its pixel centres on the control points (+-0.5, +-0.5) of a 5x5 grid.
    torch.manual_seed(0)
    control_points = regular_grid(K) + 0.1 * torch.randn(1, K * K, 2)
    grid = tps_sampling_grid(control_points, 2, 2)
    at_centres = control_points.view(K, K, 2)[1::2, 1::2]
    torch.testing.assert_close(grid[0], at_centres, atol=1e-5, rtol=0)


def test_second_order_constraint_is_zero_for_affine_grids():
    torch.manual_seed(0)
    matrix = torch.randn(3, 2, 2)
    shift = torch.randn(3, 1, 2)
    affine = regular_grid(K) @ matrix.transpose(1, 2) + shift
    constraint = second_order_constraint(affine)
    assert constraint.shape == (3,)
    assert constraint.abs().max() < 1e-10


def test_second_order_constraint_grows_with_bending():
    amplitudes = [0.0, 0.05, 0.1, 0.2, 0.4]
    values = [second_order_constraint(bent(amplitude))[0].item() for amplitude in amplitudes]
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert all(later > earlier for earlier, later in itertools.pairwise(values))


def test_sampling_grid_stays_float32_under_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        grid = tps_sampling_grid(bent(0.1), HEIGHT, WIDTH)
    assert grid.dtype == torch.float32
    torch.testing.assert_close(grid, tps_sampling_grid(bent(0.1), HEIGHT, WIDTH))


def test_gradients_reach_every_regressor_parameter():
    torch.manual_seed(0)
    config = ModelConfig.from_preset(
        "default", Resolution(HEIGHT, WIDTH), base_width=4, max_width=8, tps_width=4, tps_hidden=16
    )
    warper = GarmentWarper.from_config(config)
    garment = smooth_image()
    mask = (torch.rand(2, 1, HEIGHT, WIDTH) > 0.5).float()

    # At initialisation the head's last layer is zero, so only it can receive a gradient.
    output = warper(garment=garment, garment_mask=mask, target_mask=mask)
    output.warped_garment.square().sum().backward()
    assert warper.regressor.head[-1].weight.grad.abs().sum() > 0

    # Once it is nonzero, the loss on the warped images reaches the whole regressor.
    torch.nn.init.normal_(warper.regressor.head[-1].weight, std=1e-2)
    warper.zero_grad()
    output = warper(garment=garment, garment_mask=mask, target_mask=mask)
    loss = output.warped_garment.square().sum() + output.warped_mask.sum()
    loss = loss + second_order_constraint(output.control_points).sum()
    loss.backward()
    for name, parameter in warper.regressor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        assert math.isfinite(parameter.grad.abs().sum().item()), name


def test_the_grid_built_first_in_inference_mode_still_trains():
    points = regular_grid(K).expand(1, -1, -1) + 0.05
    with torch.inference_mode():
        frozen = tps_sampling_grid(points, 24, 20)  # builds the size's cached map inside inference mode
    trainable = points.clone().requires_grad_(True)
    grid = tps_sampling_grid(trainable, 24, 20)
    grid.square().sum().backward()
    torch.testing.assert_close(grid.detach(), frozen)
    assert trainable.grad is not None and trainable.grad.abs().sum() > 0
