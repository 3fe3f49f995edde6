"""The inference-time fit of the TPS control points to the target mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tryon.config import ModelConfig, Resolution
from tryon.nets import GarmentWarper
from tryon.ops.tps import regular_grid, tps_offset_map, tps_sampling_grid
from tryon.ops.tps_fit import TPSFit, fit_control_points, fit_size

H, W = 64, 48
FIT = TPSFit(steps=60, lr=0.03, constraint=0.01, max_height=64)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a > 0.5, b > 0.5
    return (a & b).sum(dim=(1, 2, 3)) / (a | b).sum(dim=(1, 2, 3))


def test_the_offset_map_reproduces_the_tps_grid():
    torch.manual_seed(0)
    k = 5
    points = regular_grid(k).expand(2, -1, -1) + 0.1 * torch.randn(2, k * k, 2)
    linear = tps_offset_map(k, H, W) @ (points - regular_grid(k))
    expected = tps_sampling_grid(points, H, W).reshape(2, H * W, 2)
    identity = tps_sampling_grid(regular_grid(k).expand(2, -1, -1), H, W).reshape(2, H * W, 2)
    torch.testing.assert_close(identity + linear, expected, atol=1e-4, rtol=0)


def test_the_fit_runs_at_most_at_its_height():
    assert fit_size(64, 48, 128) == (64, 48)
    assert fit_size(1024, 768, 128) == (128, 96)


def test_the_fit_moves_a_shifted_mask_onto_its_target_in_inference_mode():
    garment_mask = torch.zeros(2, 1, H, W)
    garment_mask[..., 16:48, 12:36] = 1
    target = torch.zeros(2, 1, H, W)
    target[0, :, 20:52, 16:40] = 1  # shifted
    target[1, :, 12:52, 10:38] = 1  # larger
    start = regular_grid(7).expand(2, -1, -1).clone()

    def warped(points: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(garment_mask, tps_sampling_grid(points, H, W), align_corners=False)

    with torch.inference_mode():
        fitted = fit_control_points(start, garment_mask, target, fit=FIT)
    assert not fitted.requires_grad
    before, after = iou(warped(start), target), iou(warped(fitted), target)
    assert (before < 0.8).all()
    assert (after > 0.9).all()


def test_zero_steps_keep_the_points_and_an_empty_target_keeps_them_too():
    start = regular_grid(5).expand(1, -1, -1).clone() + 0.01
    mask = torch.zeros(1, 1, H, W)
    mask[..., 8:40, 8:40] = 1
    assert (
        fit_control_points(start, mask, mask, fit=TPSFit(steps=0, lr=0.1, constraint=0.0, max_height=64))
        is start
    )
    kept = fit_control_points(
        start, mask, torch.zeros_like(mask), fit=TPSFit(steps=5, lr=0.1, constraint=0.0, max_height=64)
    )
    torch.testing.assert_close(kept, start)


def test_the_warper_fits_only_when_asked():
    config = ModelConfig.from_preset(
        "default", Resolution(H, W), base_width=4, max_width=16, tps_width=2, tps_hidden=8, tps_fit_steps=40
    )
    warper = GarmentWarper.from_config(config).eval()
    garment_mask = torch.zeros(1, 1, H, W)
    garment_mask[..., 4:60, 4:44] = 1
    garment_mask[..., 40:60, 4:12] = 0  # a cut corner the moment alignment cannot match
    target = torch.zeros(1, 1, H, W)
    target[..., 16:48, 14:34] = 1
    garment = (garment_mask * 2 - 1).expand(-1, 3, -1, -1)
    with torch.inference_mode():
        plain = warper(garment=garment, garment_mask=garment_mask, target_mask=target)
        fitted = warper(garment=garment, garment_mask=garment_mask, target_mask=target, fit_to_target=True)
    assert iou(fitted.warped_mask, target) > iou(plain.warped_mask, target)
    assert iou(fitted.warped_mask, target) > 0.9


def test_the_fit_under_bf16_autocast_matches_the_float32_fit():
    garment_mask = torch.zeros(1, 1, 40, 32)
    garment_mask[..., 8:32, 8:24] = 1
    target = torch.zeros(1, 1, 40, 32)
    target[..., 12:36, 10:28] = 1
    start = regular_grid(5).expand(1, -1, -1).clone()
    fit = TPSFit(steps=5, lr=0.03, constraint=0.01, max_height=40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = fit_control_points(start, garment_mask, target, fit=fit)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, fit_control_points(start, garment_mask, target, fit=fit))
