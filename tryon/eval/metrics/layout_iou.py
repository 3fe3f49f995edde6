"""`layout/miou` and `layout/iou/<class>`: the predicted layout against the parsing map.

IoU is accumulated over the samples (intersections and unions summed, as segmentation benchmarks
do), so small classes in a few images are not drowned by per-image averaging. A class counts
where it occurs in the ground truth or the prediction of the samples reduced.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.labels import NUM_LABELS, Label

CLASSES = tuple(Label)  # the ids in use; 2 and 3 never are, predicting them only costs the true class


def _class_ious(stats: Tensor) -> dict[str, float]:
    intersection, union = stats.sum(dim=0)
    return {
        label.name.lower(): float(intersection[label] / union[label]) for label in CLASSES if union[label] > 0
    }


def per_class_iou(stats: Tensor) -> dict[str, float] | None:
    """{class name: IoU} over the classes that occur, from (N, 2, NUM_LABELS) intersection/union counts."""
    return _class_ious(stats) or None


def mean_iou(stats: Tensor) -> float | None:
    """Mean of the per-class IoUs of the classes that occur."""
    ious = _class_ious(stats)
    return sum(ious.values()) / len(ious) if ious else None


@register_metric("layout/iou", higher_is_better=True, reduce=per_class_iou)
@register_metric("layout/miou", higher_is_better=True, reduce=mean_iou)
def layout_counts(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B, 2, NUM_LABELS) per-id pixel counts of intersection and union, from one confusion matrix
    per sample."""
    predicted = batch.layout_ids
    if predicted is None:
        return None
    for name, ids in (("layout", predicted), ("label", batch.label)):
        # An id outside the table would land in another sample's or class's bin of the bincount.
        if ids.numel() and not 0 <= int(ids.min()) <= int(ids.max()) < NUM_LABELS:
            raise ValueError(f"EvalBatch.{name} holds ids outside 0..{NUM_LABELS - 1}")
    size = predicted.shape[0]
    pairs = (predicted.long() * NUM_LABELS + batch.label.long()).flatten(1)
    pairs = pairs + torch.arange(size, device=pairs.device)[:, None] * NUM_LABELS**2
    confusion = torch.bincount(pairs.flatten(), minlength=size * NUM_LABELS**2).view(
        size, NUM_LABELS, NUM_LABELS
    )
    intersection = confusion.diagonal(dim1=1, dim2=2)
    union = confusion.sum(dim=1) + confusion.sum(dim=2) - intersection
    return torch.stack([intersection, union], dim=1)
