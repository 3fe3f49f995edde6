"""ACGPN's content fusion steps as pure tensor functions (section 3.3 of the paper, `forward` of its
model file): layouts from logits, the composed body layout, the skin colour and map, and the image with holes.

Conventions: label maps are (B, 1, H, W) integer tensors of ACGPN ids (`label_map` adds the channel
to a (B, H, W) map as the data loader yields it); masks are (B, 1, H, W) floats in {0, 1}; images
are (B, 3, H, W) in [-1, 1]. Nothing here leaves the device or reads a value back to the host.
"""

from __future__ import annotations

import functools
import operator

import torch
from torch import Tensor

from tryon.labels import ARM_LABELS, NUM_LABELS, Label, fuse_layout
from tryon.ops.morphology import dilate

NEUTRAL_SKIN_TONE = (0.6, 0.2, 0.0)
"""RGB in [-1, 1] of a mid skin tone (204, 153, 128): the skin colour when no arm or face is visible."""

MIN_SKIN_PIXELS = 10
"""ACGPN ignores arm regions smaller than this (parsing noise) when it takes the skin colour."""


def label_map(labels: Tensor) -> Tensor:
    """A (B, H, W) label map as (B, 1, H, W); a (B, 1, H, W) map is returned as is."""
    return labels.unsqueeze(1) if labels.dim() == 3 else labels


def one_hot_layout(labels: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, 1, H, W) or (B, H, W) label ids to a (B, NUM_LABELS, H, W) one-hot layout."""
    labels = label_map(labels).long()
    batch, _, height, width = labels.shape
    layout = torch.zeros(batch, NUM_LABELS, height, width, dtype=dtype, device=labels.device)
    return layout.scatter_(1, labels, 1.0)


def body_layout(labels: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """SGM input: the one-hot fused layout, arms and noise merged into the clothes (G1's condition)."""
    return one_hot_layout(fuse_layout(label_map(labels)), dtype=dtype)


def region_mask(labels: Tensor, regions: tuple[Label, ...], *, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, 1, H, W) mask of the pixels labelled with any of `regions`."""
    labels = label_map(labels)
    # Python ints, not a tensor of ids: building one would be a host-to-device copy, a sync on CUDA.
    return functools.reduce(operator.or_, (labels == int(region) for region in regions)).to(dtype)


def worn_garment_mask(labels: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The garment the person wears now: G2's target and the region G3 repaints."""
    return region_mask(labels, (Label.UPPER_CLOTHES,), dtype=dtype)


def foreground_mask(labels: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Every pixel of the person: all labels but the background."""
    return (label_map(labels) != Label.BACKGROUND).to(dtype)


def layout_without_garment(labels: Tensor, garment_mask: Tensor) -> Tensor:
    """SGM step 1 target: the layout with the worn garment set to background (G1's cross-entropy).

    G1 learns to predict arms and body for a new garment, so the old garment's shape is removed.
    """
    return torch.where(garment_mask.bool(), int(Label.BACKGROUND), label_map(labels))


def layout_labels(logits: Tensor) -> Tensor:
    """The discrete layout of G1's (B, NUM_LABELS, H, W) logits: argmax ids as (B, 1, H, W).

    `max(dim=1).indices` is `argmax(dim=1)` (the first maximum, NaN counting as one) in a third of
    its time on the CPU, whose argmax over the channels of an NCHW map is a strided reduction.
    """
    return logits.max(dim=1, keepdim=True).indices


def binarize_logits(logits: Tensor) -> Tensor:
    """A mask from logits: 1 where the probability exceeds 1/2, i.e. where the logit is positive."""
    return (logits > 0).to(logits.dtype)


def arm_sides(labels: Tensor) -> Tensor:
    """(B, 2, H, W) bool masks of the left and right arm, in `ARM_LABELS` order."""
    labels = label_map(labels)
    return torch.cat([labels == int(arm) for arm in ARM_LABELS], dim=1)


def garment_region(
    garment_logits: Tensor, predicted_labels: Tensor, person_labels: Tensor, *, radius: int
) -> Tensor:
    """CFM step 1: where the new garment goes in the composed layout.

    G2's mask, binarised and dilated by `radius` to close small gaps, then kept off the arms G1
    predicted (arms in front of the garment stay arms) and inside the person's foreground.
    """
    mask = dilate(binarize_logits(garment_logits), radius)
    off_arms = ~arm_sides(predicted_labels).any(dim=1, keepdim=True)
    return mask * off_arms.to(mask.dtype) * foreground_mask(person_labels, dtype=mask.dtype)


def occluded_arms(predicted_labels: Tensor, worn_garment: Tensor) -> Tensor:
    """(B, 2, H, W) bool: arm pixels G1 predicts where the old garment hid the body.

    These are the pixels that must be generated, since the person image shows garment there.
    """
    return arm_sides(predicted_labels) & worn_garment.bool()


def compose_layout(
    predicted_labels: Tensor, person_labels: Tensor, worn_garment: Tensor, new_garment: Tensor
) -> Tensor:
    """CFM step 2: the body layout G3 renders, as (B, 1, H, W) label ids.

    Starting from G1's layout, each arm becomes its occluded part from the prediction plus its
    part that the old garment left visible (those pixels can be copied from the person image);
    G1's other arm pixels become background. The new garment region (`garment_region`) is painted
    as upper clothes last.
    """
    predicted_labels = label_map(predicted_labels)
    worn = worn_garment.bool()
    predicted_sides = arm_sides(predicted_labels)
    # `occluded_arms` and the visible arms, from the masks computed once.
    arms = (predicted_sides & worn) | (arm_sides(person_labels) & ~worn)
    predicted_arms = predicted_sides.any(dim=1, keepdim=True)
    layout = torch.where(predicted_arms, int(Label.BACKGROUND), predicted_labels)
    for side, arm in enumerate(ARM_LABELS):
        layout = torch.where(arms[:, side : side + 1], int(arm), layout)
    return torch.where(new_garment.bool(), int(Label.UPPER_CLOTHES), layout)


def region_mean_colour(image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (B, 3, 1, 1) colour of `image` over a (B, 1, H, W) mask, and the (B, 1, 1, 1) pixel count."""
    count = mask.sum(dim=(2, 3), keepdim=True)
    total = (image * mask).sum(dim=(2, 3), keepdim=True)
    return total / count.clamp_min(1), count


def skin_colour(image: Tensor, person_labels: Tensor, *, min_pixels: int = MIN_SKIN_PIXELS) -> Tensor:
    """The person's skin colour as (B, 3, 1, 1), for G3 to paint new arms (see `skin_map`).

    The mean colour of the arm pixels; for a person whose arms are hidden (fewer than
    `min_pixels`), the face's mean colour, and failing that a neutral tone. Chosen per sample
    with `torch.where`, so no count is read back to the host.
    """
    dtype = image.dtype
    arm_colour, arm_count = region_mean_colour(image, region_mask(person_labels, ARM_LABELS, dtype=dtype))
    face_colour, face_count = region_mean_colour(
        image, region_mask(person_labels, (Label.FACE,), dtype=dtype)
    )
    neutral = torch.cat([image.new_full((1, 1, 1, 1), value) for value in NEUTRAL_SKIN_TONE], dim=1)
    colour = torch.where(face_count >= min_pixels, face_colour, neutral)
    return torch.where(arm_count >= min_pixels, arm_colour, colour)


def skin_map(colour: Tensor, composed_labels: Tensor) -> Tensor:
    """CFM input: the skin colour (B, 3, 1, 1) painted over the arms of the composed layout, zero
    elsewhere, as ACGPN's `ger_average_color` does.

    A constant colour map would be erased by the instance norm after G3's first convolution (a
    constant input gives a constant response, which the norm subtracts); painted where arms are
    to be drawn, the colour survives it and says where it applies.
    """
    arms = arm_sides(composed_labels).any(dim=1, keepdim=True).to(colour.dtype)
    return colour * arms


def hole_mask(
    person_labels: Tensor,
    worn_garment: Tensor,
    new_garment: Tensor,
    predicted_labels: Tensor,
    *,
    radius: int,
) -> Tensor:
    """CFM: the (B, 1, H, W) mask of what G3 must repaint.

    The holes are the old garment, the new garment region, and the occluded arms grown by
    `radius` (limited to the old arms and garment, so face, hair, pants and background stay),
    as ACGPN does, so that the seam between the old sleeve and the arm is repainted too.
    """
    dtype = worn_garment.dtype
    grown = dilate(occluded_arms(predicted_labels, worn_garment).to(dtype), radius).amax(dim=1, keepdim=True)
    body = torch.maximum(region_mask(person_labels, ARM_LABELS, dtype=dtype), worn_garment)
    return torch.maximum(torch.maximum(worn_garment, new_garment), grown * body)


def image_with_holes(image: Tensor, holes: Tensor) -> Tensor:
    """CFM input: the person image with the `hole_mask` pixels set to zero."""
    return image * (1 - holes)


def repainted_region(holes: Tensor, composed_labels: Tensor) -> Tensor:
    """Where the try-on shows G3's rendering: the holes and every arm of the composed layout.

    Everywhere else the person photo is kept as is (face, hair, trousers, background), so the
    try-on preserves what the garment does not touch, pixel for pixel.
    """
    arms = arm_sides(composed_labels).any(dim=1, keepdim=True).to(holes.dtype)
    return torch.maximum(holes, arms)
