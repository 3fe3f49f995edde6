"""The naive baseline that gives the metrics a scale: paste the garment without warping it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tryon.eval.metrics.pixels import binary
from tryon.eval.records import EvalBatch

WHITE = 1.0  # laydown garments are shot on white; [-1, 1] scale


@dataclass(frozen=True)
class PastedGarment:
    """The baseline's outputs, shaped like the model's."""

    tryon: Tensor  # (B, 3, H, W) the person with the garment pasted in
    garment: Tensor  # (B, 3, H, W) the resized garment on white: the baseline's "warped garment"
    mask: Tensor  # (B, 1, H, W) the resized garment mask


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


def naive_paste(person: Tensor, garment: Tensor, garment_mask: Tensor, worn_mask: Tensor) -> PastedGarment:
    """Resize the garment's bounding box onto the worn garment's bounding box and paste it through
    the worn garment's mask.

    person, garment: (B, 3, H, W) in [-1, 1]; garment_mask, worn_mask: (B, 1, H, W) in [0, 1].
    Inside the worn mask every pixel comes from the resized garment photo, its white background
    included; a sample whose garment or worn mask is empty keeps the person unchanged.
    """
    garment_bits, worn_bits = binary(garment_mask), binary(worn_mask)
    canvas = torch.full_like(garment, WHITE)
    pasted_mask = torch.zeros_like(garment_mask)
    for index, (source, target) in enumerate(zip(_boxes(garment_bits), _boxes(worn_bits), strict=True)):
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
    worn = worn_bits[:, None].to(person.dtype)
    return PastedGarment(tryon=person * (1 - worn) + canvas * worn, garment=canvas, mask=pasted_mask)


def baseline_batch(batch: EvalBatch) -> EvalBatch:
    """The batch with the model's outputs replaced by the naive baseline's.

    The baseline predicts no layout; it has unpaired outputs where the batch names the unpaired
    garment, pasted into the same old garment region.
    """
    paired = naive_paste(batch.person, batch.garment, batch.garment_mask, batch.worn_mask)
    unpaired_tryon = None
    if batch.unpaired_garment is not None and batch.unpaired_garment_mask is not None:
        unpaired_tryon = naive_paste(
            batch.person, batch.unpaired_garment, batch.unpaired_garment_mask, batch.worn_mask
        ).tryon
    return dataclasses.replace(
        batch,
        tryon=paired.tryon,
        warped_garment=paired.garment,
        warped_mask=paired.mask,
        layout=None,
        unpaired_tryon=unpaired_tryon,
    )
