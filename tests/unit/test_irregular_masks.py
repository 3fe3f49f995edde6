"""Irregular inpainting masks: deterministic per seed, resolution-independent in shape, on the arms only."""

from __future__ import annotations

import numpy as np
import torch

from tryon.ops.irregular_masks import irregular_mask, segment_distance


def draw(seed: int, height: int = 64, width: int = 48) -> torch.Tensor:
    return irregular_mask(height, width, generator=np.random.default_rng(seed), device=torch.device("cpu"))


def test_segment_distance_is_euclidean_to_the_closest_point():
    points = torch.tensor([[0.0, 1.0], [2.0, 0.0], [-1.0, 0.0]])
    distances = segment_distance(points, torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(distances, torch.tensor([[1.0, 1.0, 1.0]]))


def test_masks_are_binary_seeded_and_cover_a_fair_share():
    first, again, other = draw(1), draw(1), draw(2)
    assert first.shape == (1, 64, 48)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(first, again) and not torch.equal(first, other)
    coverage = torch.stack([draw(seed) for seed in range(64)]).mean().item()
    assert 0.1 < coverage < 0.5


def test_the_same_seed_draws_the_same_shapes_at_every_resolution():
    small, large = draw(3, 64, 48), draw(3, 128, 96)
    downscaled = torch.nn.functional.avg_pool2d(large[None], 2)[0]
    agreement = ((downscaled > 0.5) == (small > 0.5)).float().mean().item()
    assert agreement > 0.95
