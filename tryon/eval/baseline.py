"""The naive baseline that gives the metrics a scale: paste the garment without warping it.

It is scored like the model, on the same changed region (`tryon.eval.regions`) with the same kept
pixels: outside the changed region the try-on is the photo, as the model's is with
`model.keep_photo`. Inside it, the garment's bounding box is resized onto the bounding box of the
worn garment and pasted through the resized garment mask; the old garment and arm pixels the paste
does not cover are painted in the person's skin colour (`tryon.ops.composition.skin_colour`, the
cue G3 gets), as a naive method that takes the old garment off and draws the body without any
shape would; the remaining changed pixels (the surroundings) keep the photo.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tryon.eval.metrics.pixels import binary
from tryon.eval.records import EvalBatch
from tryon.eval.regions import garment_and_arms
from tryon.ops.composition import skin_colour, worn_garment_mask

DESCRIPTION = (
    "Naive baseline: outside the changed region the photo, as the model keeps it; inside it the "
    "garment's bounding box resized onto the worn garment's bounding box and pasted through the "
    "resized garment mask, without warping; old garment and arm pixels the paste leaves uncovered "
    "painted in the person's skin colour (the mean colour of the arms, else of the face); the rest "
    "of the changed region keeps the photo. It predicts no layout."
)


@dataclass(frozen=True)
class PastedGarment:
    """The baseline's outputs, shaped like the model's."""

    tryon: Tensor  # (B, 3, H, W) the person with the garment pasted in
    garment: Tensor  # (B, 3, H, W) the resized garment on white: the baseline's "warped garment"
    mask: Tensor  # (B, 1, H, W) the resized garment mask


WHITE = 1.0  # laydown garments are shot on white; [-1, 1] scale


def _boxes(masks: Tensor) -> list[tuple[int, int, int, int] | None]:
    """(top, bottom, left, right) per (B, H, W) bool mask, bottom and right exclusive; None if empty."""

    def extent(present: Tensor) -> Tensor:  # (B, N) bool -> (B, 2) first index, last index + 1
        index = torch.arange(present.shape[1], device=present.device)
        first = torch.where(present, index, present.shape[1]).amin(dim=1)
        last = torch.where(present, index, -1).amax(dim=1) + 1
        return torch.stack([first, last], dim=1)

    # One transfer to the host for the whole batch instead of a few per sample.
    boxes = torch.cat([extent(masks.any(dim=2)), extent(masks.any(dim=1))], dim=1).tolist()
    return [None if box[1] == 0 else tuple(box) for box in boxes]


def _paste_boxes(garment: Tensor, garment_mask: Tensor, worn_mask: Tensor) -> tuple[Tensor, Tensor]:
    """The garment's bounding box resized onto the worn garment's: (B, 3, H, W) canvas on white and
    (B, 1, H, W) resized mask; empty where the garment or the worn mask is."""
    canvas = torch.full_like(garment, WHITE)
    pasted_mask = torch.zeros_like(garment_mask)
    for index, (source, target) in enumerate(
        zip(_boxes(binary(garment_mask)), _boxes(binary(worn_mask)), strict=True)
    ):
        if source is None or target is None:
            continue
        top, bottom, left, right = source
        size = (target[1] - target[0], target[3] - target[2])
        crop = torch.cat([garment[index], garment_mask[index]])[None, :, top:bottom, left:right]
        resized = F.interpolate(
            crop.float(), size=size, mode="bilinear", align_corners=False, antialias=True
        )[0]
        window = (slice(target[0], target[1]), slice(target[2], target[3]))
        canvas[index, :, window[0], window[1]] = resized[:3].to(canvas.dtype)
        pasted_mask[index, :, window[0], window[1]] = (resized[3:] > 0.5).to(pasted_mask.dtype)
    return canvas, pasted_mask


def naive_paste(
    person: Tensor, label: Tensor, garment: Tensor, garment_mask: Tensor, changed_region: Tensor
) -> PastedGarment:
    """The naive try-on of the module docstring.

    person, garment: (B, 3, H, W) in [-1, 1]; label: (B, H, W) parsing ids; garment_mask,
    changed_region: (B, 1, H, W) in [0, 1]. A sample whose garment or worn garment is empty gets no
    paste, only the skin colour over its old garment and arms.
    """
    canvas, pasted_mask = _paste_boxes(
        garment, garment_mask, worn_garment_mask(label, dtype=garment_mask.dtype)
    )
    # Broadcasts whether the skin colour comes as (B, 3, 1, 1) or as a constant (B, 3, H, W) map.
    body = torch.where(garment_and_arms(label).bool(), skin_colour(person, label).to(person.dtype), person)
    drawn = torch.where(pasted_mask.bool(), canvas, body)
    tryon = torch.where(changed_region > 0.5, drawn, person)
    return PastedGarment(tryon=tryon, garment=canvas, mask=pasted_mask)


def baseline_batch(batch: EvalBatch) -> EvalBatch:
    """The batch with the model's outputs replaced by the naive baseline's.

    The baseline predicts no layout; it has unpaired outputs where the batch names the unpaired
    garment, pasted into the same old garment box and scored on the unpaired changed region (the
    paired one where the batch has no unpaired ground truth).
    """
    paired = None
    if batch.garment is not None and batch.garment_mask is not None:
        paired = naive_paste(batch.person, batch.label, batch.garment, batch.garment_mask, batch.changed_region)
    unpaired_tryon = None
    if batch.unpaired_garment is not None and batch.unpaired_garment_mask is not None:
        region = (
            batch.changed_region if batch.unpaired_changed_region is None else batch.unpaired_changed_region
        )
        unpaired_tryon = naive_paste(
            batch.person, batch.label, batch.unpaired_garment, batch.unpaired_garment_mask, region
        ).tryon
    return dataclasses.replace(
        batch,
        tryon=None if paired is None else paired.tryon,
        warped_garment=None if paired is None else paired.garment,
        warped_mask=None if paired is None else paired.mask,
        layout=None,
        predicted_worn_mask=None,
        unpaired_tryon=unpaired_tryon,
    )
