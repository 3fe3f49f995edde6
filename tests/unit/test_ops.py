"""Morphology, pose maps and ACGPN's composition steps on small crafted tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tryon.labels import NUM_KEYPOINTS, NUM_LABELS, Label
from tryon.ops.composition import (
    NEUTRAL_SKIN_TONE,
    body_layout,
    compose_layout,
    garment_region,
    hole_mask,
    image_with_holes,
    layout_labels,
    layout_without_garment,
    one_hot_layout,
    repainted_region,
    skin_colour,
    skin_map,
    worn_garment_mask,
)
from tryon.ops.morphology import dilate, erode, scale_radius
from tryon.ops.pose_maps import INSIDE, OUTSIDE, pose_maps


def square(size: int, top: int, left: int, side: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., top : top + side, left : left + side] = 1
    return mask


def test_dilate_and_erode_a_square():
    mask = square(9, 3, 3, 3)
    assert torch.equal(dilate(mask, 1), square(9, 2, 2, 5))
    assert torch.equal(dilate(mask, 2), square(9, 1, 1, 7))
    assert torch.equal(erode(square(9, 2, 2, 5), 1), mask)
    assert torch.equal(erode(mask, 1), square(9, 4, 4, 1))
    assert torch.equal(dilate(mask, 0), mask) and torch.equal(erode(mask, 0), mask)


def test_radii_scale_with_the_height():
    assert scale_radius(10, 256) == 10
    assert scale_radius(10, 1024) == 40
    assert scale_radius(5, 64) == 1  # never rounds a positive radius away
    assert scale_radius(0, 1024) == 0


def test_pose_maps_draw_a_square_per_visible_keypoint():
    keypoints = torch.zeros(2, NUM_KEYPOINTS, 3)
    keypoints[0, 3] = torch.tensor([10.0, 20.0, 0.9])
    keypoints[1, 0] = torch.tensor([0.0, 0.0, 0.5])  # a corner: the square is clipped
    keypoints[1, 5] = torch.tensor([30.0, 40.0, 0.0])  # not detected: not drawn
    maps = pose_maps(keypoints, height=64, width=48, radius=2)

    assert maps.shape == (2, NUM_KEYPOINTS, 64, 48)
    expected = torch.full((64, 48), OUTSIDE)
    expected[18:23, 8:13] = INSIDE
    assert torch.equal(maps[0, 3], expected)
    assert (maps[1, 0] == INSIDE).sum() == 9
    assert (maps[1, 5] == OUTSIDE).all()
    untouched = [k for k in range(NUM_KEYPOINTS) if k != 3]
    assert (maps[0, untouched] == OUTSIDE).all()


def test_one_hot_and_fused_layouts():
    labels = torch.tensor([[[0, 4, 11], [13, 12, 7]]])  # (B, H, W) as the loader yields it
    layout = one_hot_layout(labels)
    assert layout.shape == (1, NUM_LABELS, 2, 3)
    assert torch.equal(layout_labels(layout)[:, 0], labels)
    fused = layout_labels(body_layout(labels))[0, 0]
    clothes = int(Label.UPPER_CLOTHES)
    assert fused.tolist() == [[0, clothes, clothes], [clothes, int(Label.FACE), clothes]]


def test_layout_without_garment_clears_only_the_garment():
    labels = torch.tensor([[[[int(Label.FACE), int(Label.UPPER_CLOTHES), int(Label.LEFT_ARM)]]]])
    target = layout_without_garment(labels, worn_garment_mask(labels))
    assert target.tolist() == [[[[int(Label.FACE), int(Label.BACKGROUND), int(Label.LEFT_ARM)]]]]


# A crafted 1 x 6 person, column by column: background, old garment (x3), left arm, face.
BG, UC, LA, RA, FACE = (
    int(label)
    for label in (Label.BACKGROUND, Label.UPPER_CLOTHES, Label.LEFT_ARM, Label.RIGHT_ARM, Label.FACE)
)
PERSON = torch.tensor([[[[BG, UC, UC, UC, LA, FACE]]]])
WORN = worn_garment_mask(PERSON)


def test_compose_layout_regenerates_occluded_arms_and_paints_the_garment():
    # G1 predicts: a right arm over the background (not the person: dropped), a left arm inside
    # the old garment (occluded: kept), background elsewhere under the garment, and the visible
    # left arm as background (the visible arm is kept from the person anyway).
    predicted = torch.tensor([[[[RA, LA, BG, BG, BG, FACE]]]])
    new_garment = torch.tensor([[[[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]]])
    composed = compose_layout(predicted, PERSON, WORN, new_garment)
    assert composed.tolist() == [[[[BG, LA, UC, BG, LA, FACE]]]]


def test_garment_region_stays_off_predicted_arms_and_background():
    predicted = torch.tensor([[[[BG, LA, BG, BG, BG, FACE]]]])
    logits = torch.tensor([[[[5.0, 5.0, 5.0, -5.0, -5.0, -5.0]]]])
    region = garment_region(logits, predicted, PERSON, radius=0)
    assert region.tolist() == [[[[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]]]
    grown = garment_region(logits, predicted, PERSON, radius=1)
    assert grown.tolist() == [[[[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]]]]  # one pixel further, no more


def test_skin_colour_is_the_arm_mean_then_face_then_neutral():
    labels = torch.full((3, 1, 8, 8), BG)
    labels[0, :, :2, :] = LA  # 16 arm pixels
    labels[0, :, 2:4, :] = FACE
    labels[1, :, 2:4, :] = FACE  # no arm: the face
    image = torch.rand(3, 3, 8, 8) * 2 - 1
    arm_mean = image[0, :, :2, :].mean(dim=(1, 2))
    face_mean = image[1, :, 2:4, :].mean(dim=(1, 2))

    colour = skin_colour(image, labels)
    assert colour.shape == (3, 3, 1, 1)
    torch.testing.assert_close(colour[0], arm_mean.view(3, 1, 1))
    torch.testing.assert_close(colour[1], face_mean.view(3, 1, 1))
    torch.testing.assert_close(colour[2], torch.tensor(NEUTRAL_SKIN_TONE).view(3, 1, 1))


def test_skin_map_paints_the_colour_over_the_arms_only():
    labels = torch.full((1, 1, 8, 8), BG)
    labels[..., :2, :] = LA
    labels[..., 6:, :] = int(Label.RIGHT_ARM)
    labels[..., 3:5, :] = UC
    colour = torch.tensor([0.5, -0.2, 0.1]).view(1, 3, 1, 1)
    painted = skin_map(colour, labels)
    arms = (labels == LA) | (labels == int(Label.RIGHT_ARM))
    torch.testing.assert_close(painted, colour * arms.float())
    # It varies over the image, so the instance norm after G3's first convolution cannot erase it.
    assert painted.std(dim=(2, 3)).min() > 0


def test_image_with_holes_removes_exactly_the_garment():
    labels = torch.full((1, 1, 16, 12), BG)
    labels[..., :3, 4:8] = FACE
    labels[..., 4:10, 2:10] = UC
    labels[..., 10:, 3:9] = int(Label.PANTS)
    worn = worn_garment_mask(labels)
    image = torch.rand(1, 3, 16, 12) + 0.5  # nowhere zero, so every zero is a hole
    predicted = torch.where(worn.bool(), BG, labels)  # no arm predicted: no arm holes
    holes = image_with_holes(image, hole_mask(labels, worn, torch.zeros_like(worn), predicted, radius=2))
    assert torch.equal(holes == 0, worn.bool().expand_as(image))
    torch.testing.assert_close(holes * (1 - worn), image * (1 - worn))


def test_image_with_holes_grows_occluded_arms_within_the_body():
    labels = torch.full((1, 1, 16, 12), BG)
    labels[..., 4:10, 2:10] = UC
    labels[..., 4:10, 10:] = LA  # the visible part of the arm
    worn = worn_garment_mask(labels)
    predicted = labels.clone()
    predicted[..., 4:10, 8:10] = LA  # the arm continues under the old garment
    holes = hole_mask(labels, worn, torch.zeros_like(worn), predicted, radius=1)[0, 0] == 1
    assert holes[4:10, 2:10].all()  # the old garment
    assert holes[4:10, 10].all() and not holes[4:10, 11].any()  # one pixel into the visible arm
    assert not holes[3].any() and not holes[10].any()  # not into the background


def test_repainted_region_is_the_holes_and_the_composed_arms():
    holes = torch.zeros(1, 1, 8, 6)
    holes[..., 2:5, 1:5] = 1
    composed = torch.full((1, 1, 8, 6), BG)
    composed[..., 5:7, 0] = LA
    region = repainted_region(holes, composed)
    assert torch.equal(region.bool(), holes.bool() | (composed == LA))


def test_separable_dilation_equals_the_square_max_pool():
    mask = (torch.rand(2, 3, 50, 40, generator=torch.Generator().manual_seed(0)) > 0.97).float()
    for radius in (1, 4, 12):
        assert torch.equal(dilate(mask, radius), F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius))
