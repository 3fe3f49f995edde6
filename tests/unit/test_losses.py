"""Values, gradients and edge cases of the pure loss functions in tryon.losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tryon.losses import (
    VGG_LAYER_WEIGHTS,
    class_balance_weights,
    discriminator_fake_loss,
    discriminator_real_loss,
    feature_matching_loss,
    generator_gan_loss,
    l1_loss,
    layout_cross_entropy,
    mask_bce,
    mask_overlap_loss,
    perceptual_loss,
    r1_penalty,
    tps_constraint_loss,
)
from tryon.ops.tps import regular_grid


def output(*logit_values: float) -> list[list[torch.Tensor]]:
    """A two-scale discriminator output with one feature map and constant patch logits per scale."""
    return [[torch.ones(1, 2, 4, 4), torch.full((1, 1, 3, 3), value)] for value in logit_values]


@pytest.mark.parametrize(
    ("kind", "logit", "real", "fake", "generator"),
    [
        ("lsgan", 1.0, 0.0, 1.0, 0.0),
        ("lsgan", 0.0, 1.0, 0.0, 1.0),
        ("hinge", 1.0, 0.0, 2.0, -1.0),
        ("hinge", -1.0, 2.0, 0.0, 1.0),
    ],
)
def test_gan_losses_per_scale_values_are_summed_over_scales(kind, logit, real, fake, generator):
    two_scales = output(logit, logit)
    assert discriminator_real_loss(two_scales, kind=kind).item() == pytest.approx(2 * real)
    assert discriminator_fake_loss(two_scales, kind=kind).item() == pytest.approx(2 * fake)
    assert generator_gan_loss(two_scales, kind=kind).item() == pytest.approx(2 * generator)


def test_unknown_gan_loss_is_refused():
    with pytest.raises(ValueError, match="wgan"):
        generator_gan_loss(output(0.0), kind="wgan")


def test_losses_reduce_in_float32_for_bf16_inputs():
    assert generator_gan_loss([[torch.zeros(1, 1, 2, 2, dtype=torch.bfloat16)]]).dtype == torch.float32
    assert l1_loss(torch.zeros(2, dtype=torch.bfloat16), torch.ones(2)).dtype == torch.float32


def test_feature_matching_ignores_logits_averages_scales_and_does_not_train_the_real_side():
    fake = [[torch.zeros(1, 2, 4, 4, requires_grad=True), torch.zeros(1, 1, 3, 3)] for _ in range(2)]
    real = [
        [torch.full((1, 2, 4, 4), 0.5, requires_grad=True), torch.full((1, 1, 3, 3), 9.0)] for _ in range(2)
    ]
    loss = feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx(0.5)  # the logits' difference of 9 is not matched
    loss.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None


def test_perceptual_loss_weights_layers_like_pix2pixhd_and_takes_precomputed_features():
    fake = [torch.ones(1, 1, 2, 2, requires_grad=True) for _ in VGG_LAYER_WEIGHTS]
    real = [torch.zeros(1, 1, 2, 2, requires_grad=True) for _ in VGG_LAYER_WEIGHTS]
    loss = perceptual_loss(fake, real)
    assert loss.item() == pytest.approx(sum(VGG_LAYER_WEIGHTS))
    loss.backward()
    assert all(feature.grad is not None for feature in fake) and all(feature.grad is None for feature in real)
    with pytest.raises(ValueError, match="5 VGG activations"):
        perceptual_loss(fake[:2], real[:2])


def test_layout_cross_entropy_accepts_label_maps_with_or_without_a_channel():
    logits = torch.randn(2, 14, 4, 3)
    labels = torch.randint(0, 14, (2, 4, 3))
    expected = F.cross_entropy(logits, labels)
    assert layout_cross_entropy(logits, labels).item() == pytest.approx(expected.item())
    assert layout_cross_entropy(logits, labels[:, None]).item() == pytest.approx(expected.item())


def test_mask_bce_is_binary_cross_entropy_on_logits():
    logits = torch.tensor([[[[10.0, -10.0]]]])
    assert mask_bce(logits, torch.tensor([[[[1.0, 0.0]]]])).item() < 1e-4
    assert mask_bce(logits, torch.tensor([[[[0.0, 1.0]]]])).item() == pytest.approx(10.0, abs=1e-3)


def test_tps_constraint_is_zero_for_affine_grids_and_positive_for_bent_ones():
    grid = regular_grid(5)
    affine = grid @ torch.tensor([[1.2, 0.1], [-0.2, 0.9]]) + 0.3
    assert tps_constraint_loss(affine[None].expand(2, -1, -1)).item() == pytest.approx(0.0, abs=1e-10)
    bent = grid.clone()
    bent[12] += 0.1  # the centre point
    assert tps_constraint_loss(bent[None]).item() > 0


def test_r1_penalty_is_the_squared_input_gradient_norm():
    weight = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1).requires_grad_(True)

    def discriminator(condition, image):
        return [[(torch.cat([condition, image], dim=1) * weight).sum(dim=1, keepdim=True)]]

    condition = torch.randn(2, 1, 3, 3, requires_grad=True)
    image = torch.randn(2, 1, 3, 3, requires_grad=True)
    penalty = r1_penalty(discriminator(condition, image), [condition, image])
    # d(sum of logits)/d(condition, image) = weight at every pixel: |grad|^2 = 9 pixels * (9 + 16)
    # per sample, the condition's 9 and the image's 16 taken together.
    assert penalty.item() == pytest.approx(9 * 25.0)
    assert penalty.requires_grad  # so that it can train the discriminator


def test_class_balance_weighs_rare_classes_up_per_sample():
    labels = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    labels[0, 0, 0, :1] = 11  # one arm pixel against 15 background pixels
    labels[1, 0, :2] = 13  # 8 against 8
    weights = class_balance_weights(labels, 14, power=0.5)
    assert weights.shape == (2, 14)
    torch.testing.assert_close(weights[0, [0, 11]], torch.tensor([1.0, 15**0.5]))
    torch.testing.assert_close(weights[1, [0, 13]], torch.tensor([1.0, 1.0]))
    assert torch.equal(class_balance_weights(labels, 14, power=0.0), torch.ones(2, 14))


def test_balanced_cross_entropy_is_a_per_sample_weighted_mean():
    logits = torch.randn(2, 14, 4, 4)
    labels = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    labels[0, 0, 0, 0] = 11
    balanced = layout_cross_entropy(logits, labels, class_balance=0.5)
    halves = [layout_cross_entropy(logits[i : i + 1], labels[i : i + 1], class_balance=0.5) for i in range(2)]
    torch.testing.assert_close(balanced, (halves[0] + halves[1]) / 2)
    # Uniform labels: weighting changes nothing.
    torch.testing.assert_close(
        layout_cross_entropy(logits[1:], labels[1:], class_balance=0.5), layout_cross_entropy(logits[1:], labels[1:])
    )
    # The rare pixel counts for more than in the unweighted mean.
    per_pixel = torch.nn.functional.cross_entropy(logits[:1], labels[:1, 0], reduction="none").flatten()
    weights = torch.ones(16)
    weights[0] = 15**0.5
    torch.testing.assert_close(halves[0], (per_pixel * weights).sum() / weights.sum())


def test_mask_overlap_loss_is_zero_for_equal_masks_and_reaches_past_the_edge():
    target = torch.zeros(1, 1, 16, 16)
    target[..., 4:12, 4:12] = 1
    assert mask_overlap_loss(target, target).item() < 1e-3
    assert mask_overlap_loss(torch.zeros_like(target), target).item() > 0.99
    # A mask two pixels off still gets a gradient from the pooled scales, normalised by area.
    shifted = torch.zeros_like(target)
    shifted[..., 4:12, 6:14] = 1
    shifted.requires_grad_(True)
    mask_overlap_loss(shifted, target).backward()
    assert shifted.grad[..., 4:12, 12:14].sum() > 0  # the part that spills over is pushed down
    assert shifted.grad[..., 4:12, 6:12].sum() < 0  # the overlapping part is pulled up
