"""`warp/iou`: the warped garment's mask against the region the garment covers on the person."""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED_TRYON, binary
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch


@register_metric(
    "warp/iou",
    higher_is_better=True,
    requires=PAIRED_TRYON,
    description=(
        "warped garment mask (warped onto G2's predicted region, as the try-on does) vs. the worn garment "
        "in the parsing map (paired), mean per-garment IoU"
    ),
)
def warp_iou(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B,) per-garment IoU (masks split at 0.5); the split's value is the mean over garments, each
    counting equally whatever its size. NaN (undefined, left out) where both masks are empty; None
    for unpaired pairs, where another garment has no worn region to match."""
    if batch.warped_mask is None:
        return None
    warped, worn = binary(batch.warped_mask), binary(batch.worn_mask)
    intersection = (warped & worn).sum(dim=(1, 2)).double()
    union = (warped | worn).sum(dim=(1, 2)).double()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.full_like(union, float("nan")))
