"""The regions every image metric is reported over: `full` (the whole frame) and `changed`.

`changed` holds the pixels a try-on may change: the person's old garment (upper clothes) and arms
from the parsing map, and for an unpaired try-on also every pixel where the synthetic ground truth
differs from the photo (the new garment may be longer or have other sleeves), all grown by the
radius the model cuts its arm holes with (`ModelConfig.arm_hole_dilation`), so the seams around
them count too. It is computed once per sample from ground-truth data only, never from a
prediction, so the model and the naive baseline are scored on the same pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.config import ModelConfig
from tryon.labels import ARM_LABELS, Label
from tryon.ops.composition import region_mask
from tryon.ops.morphology import dilate, scale_radius

REGIONS = ("full", "changed")

CHANGE_THRESHOLD = 0.1
"""Per-channel difference in [-1, 1] above which a ground-truth pixel counts as changed (JPEG noise
stays well below it)."""


def changed_radius(config: ModelConfig, height: int) -> int:
    """The growth of the changed region in pixels: the model's arm-hole dilation at this height."""
    return scale_radius(config.arm_hole_dilation, height)


def garment_and_arms(label: Tensor) -> Tensor:
    """(B, 1, H, W) float mask of the old garment and the arms of a (B, H, W) parsing map."""
    return region_mask(label, (Label.UPPER_CLOTHES, *ARM_LABELS))


def changed_region(label: Tensor, *, radius: int) -> Tensor:
    """(B, 1, H, W) float mask of what a paired try-on may change: old garment and arms, grown by
    `radius`."""
    return dilate(garment_and_arms(label), radius)


def unpaired_changed_region(label: Tensor, person: Tensor, unpaired_target: Tensor, *, radius: int) -> Tensor:
    """(B, 1, H, W) float mask of what an unpaired try-on may change: old garment, arms and every
    pixel where the ground truth (B, 3, H, W) differs from the photo, grown by `radius`."""
    differs = ((unpaired_target - person).abs().amax(dim=1, keepdim=True) > CHANGE_THRESHOLD).to(person.dtype)
    return dilate(torch.maximum(garment_and_arms(label).to(person.dtype), differs), radius)


def describe_region(region: str, *, unpaired: bool, keep_photo: bool) -> str:
    """What a region covers, for the report: the words beside each number."""
    if region == "changed":
        text = "over the old garment, arms and their surroundings"
        return text + (" and wherever the ground truth differs from the photo" if unpaired else "")
    if keep_photo:
        return (
            "over the whole frame; the try-on keeps the photo outside its repainted region "
            "(model.keep_photo), so most of these pixels are copies and the score is inflated"
        )
    return "over the whole frame, all of it rendered by G3 (model.keep_photo is off, as in ACGPN)"
