"""The warper starts from the moment alignment of the masks, bounds its learned offsets and keeps
its refinement losses out of the TPS."""

from __future__ import annotations

import torch

from tryon.config import ModelConfig, Resolution
from tryon.nets import GarmentWarper
from tryon.ops.alignment import align_masks, mask_moments

H, W = 64, 48


def rectangle(top: int, bottom: int, left: int, right: int, *, batch: int = 1) -> torch.Tensor:
    mask = torch.zeros(batch, 1, H, W)
    mask[..., top:bottom, left:right] = 1
    return mask


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return ((a & b).sum() / (a | b).sum()).item()


def tiny_warper(max_offset: float = 0.5) -> GarmentWarper:
    config = ModelConfig.from_preset(
        "default", Resolution(H, W), base_width=4, max_width=16, tps_width=2, tps_hidden=8, tps_max_offset=max_offset
    )
    return GarmentWarper.from_config(config)


def test_moments_of_a_rectangle():
    centre, spread, count = mask_moments(rectangle(16, 48, 12, 36))
    torch.testing.assert_close(centre, torch.tensor([[[0.0, 0.0]]]))
    assert count.item() == 32 * 24
    # A uniform interval of half-width a has standard deviation a / sqrt(3).
    torch.testing.assert_close(spread, torch.tensor([[[0.5, 0.5]]]) / 3**0.5, atol=2e-3, rtol=0)


def test_alignment_maps_the_target_onto_the_source_and_is_the_identity_for_empty_masks():
    source, target = rectangle(0, 32, 0, 24), rectangle(32, 64, 24, 48)
    alignment = align_masks(source, target)
    # The target's centre lands on the source's centre; equal sizes: unit scale.
    torch.testing.assert_close(alignment.apply(alignment.target_centre), alignment.source_centre)
    torch.testing.assert_close(alignment.scale, torch.ones(1, 1, 2))
    empty = align_masks(source, torch.zeros(1, 1, H, W))
    points = torch.rand(5, 2) * 2 - 1
    torch.testing.assert_close(empty.apply(points)[0], points)


def test_an_untrained_warper_puts_the_garment_on_the_target_region():
    garment_mask = rectangle(4, 60, 4, 44)  # a laydown garment filling the frame
    target = rectangle(20, 44, 16, 32)  # a small torso region elsewhere
    garment = (garment_mask * 2 - 1).expand(-1, 3, -1, -1)
    output = tiny_warper()(garment=garment, garment_mask=garment_mask, target_mask=target)
    assert iou(output.warped_mask, target) > 0.9
    assert iou(garment_mask, target) < 0.2  # an identity warp would have been far off


def test_learned_offsets_are_bounded():
    warper = tiny_warper(max_offset=0.25)
    torch.nn.init.normal_(warper.regressor.head[-1].weight, std=100.0)  # saturate the head
    mask = rectangle(8, 56, 8, 40)
    output = warper(garment=(mask * 2 - 1).expand(-1, 3, -1, -1), garment_mask=mask, target_mask=mask)
    start = align_masks(mask, mask).apply(warper.regular_grid)
    assert (output.control_points - start).abs().max() <= 0.25 + 1e-6


def test_refinement_losses_stop_at_the_tps():
    warper = tiny_warper()
    torch.nn.init.normal_(warper.regressor.head[-1].weight, std=1e-2)
    mask = rectangle(8, 56, 8, 40)
    output = warper(garment=torch.rand(1, 3, H, W) * 2 - 1, garment_mask=mask, target_mask=rectangle(12, 50, 10, 38))
    (output.refined_garment.square().mean() + output.composition_mask.mean()).backward()
    assert all(parameter.grad is None for parameter in warper.regressor.parameters())
    assert any(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in warper.refine.parameters())
    warper.zero_grad()
    output = warper(garment=torch.rand(1, 3, H, W) * 2 - 1, garment_mask=mask, target_mask=rectangle(12, 50, 10, 38))
    output.warped_garment.square().mean().backward()
    assert all(parameter.grad is not None for parameter in warper.regressor.parameters())


def test_without_moment_alignment_an_untrained_warper_is_the_identity():
    garment_mask = rectangle(4, 60, 4, 44)
    target = rectangle(20, 44, 16, 32)
    garment = (garment_mask * 2 - 1).expand(-1, 3, -1, -1)
    config = ModelConfig.from_preset(
        "default", Resolution(H, W), base_width=4, max_width=16, tps_width=2, tps_hidden=8, tps_align_moments=False
    )
    output = GarmentWarper.from_config(config)(garment=garment, garment_mask=garment_mask, target_mask=target)
    torch.testing.assert_close(output.warped_mask, garment_mask, atol=1e-5, rtol=0)
