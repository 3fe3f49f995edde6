"""`layout/iou/upper_clothes`: G2's worn-garment mask against the parsing map's upper clothes.

Part 1 predicts the garment with G2, not G1 (G1's target has the garment removed, see
`layout_iou`), so the garment class of the predicted layout is G2's mask, split at probability
1/2, scored against G2's training target, the worn garment of the parsing map. Pooled over samples
like the other layout classes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED_TRYON, binary
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.ops.composition import worn_garment_mask


def pooled_iou(stats: Tensor) -> float | None:
    """Summed intersections over summed unions of (N, 2) counts; None when every union is empty."""
    intersection, union = stats.sum(dim=0).tolist()
    return intersection / union if union else None


@register_metric(
    "layout/iou/upper_clothes",
    higher_is_better=True,
    reduce=pooled_iou,
    requires=PAIRED_TRYON,
    description="G2's worn-garment mask vs. the parsing map's upper clothes (G2's training target), "
    "IoU pooled over samples",
)
def garment_counts(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B, 2) pixel counts of intersection and union of G2's mask and the worn garment."""
    if batch.predicted_worn_mask is None:
        return None
    predicted = binary(batch.predicted_worn_mask)
    worn = worn_garment_mask(batch.label, dtype=torch.bool)[:, 0]
    return torch.stack([(predicted & worn).sum(dim=(1, 2)), (predicted | worn).sum(dim=(1, 2))], dim=1)
