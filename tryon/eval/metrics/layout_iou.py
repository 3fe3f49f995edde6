"""`layout/miou` and `layout/iou/<class>`: G1's own layout against the layout G1 is trained to predict.

What is compared: G1's prediction (the arg-max of its logits, before composition, so nothing in
it is copied from the input parsing map) against G1's training target, the person's parsing map
with the worn garment set to background (`tryon.ops.composition.layout_without_garment`, the
target of G1's cross-entropy): G1 predicts the body a new garment leaves (arms, face, pants, ...),
G2 the garment itself (scored as `layout/iou/upper_clothes` by `layout_garment_iou`). Upper
clothes are therefore not one of G1's classes here: a pixel G1 labels upper clothes counts against
the class the target has there.

IoU is accumulated over the samples (intersections and unions summed, as segmentation benchmarks
do), so small classes in a few images are not drowned by per-image averaging. A class counts
where it occurs in the target or the prediction of the samples reduced. `layout/iou/arms` takes
both arms as one class (an arm labelled as the other arm still counts): the body part a try-on
changes most.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED_TRYON
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.labels import ARM_LABELS, NUM_LABELS, Label
from tryon.ops.composition import layout_without_garment, region_mask, worn_garment_mask

CLASSES = tuple(label for label in Label if label != Label.UPPER_CLOTHES)
"""G1's classes: the ids in use (2 and 3 never are) but the garment, which is G2's."""

ARMS = NUM_LABELS
"""Index of the extra 'both arms' class in the per-sample counts."""

_DESCRIPTION = (
    "G1's layout (before composition) vs. the parsing map with the person's garment as background "
    "(G1's training target), IoU pooled over samples"
)


def _class_ious(stats: Tensor) -> dict[str, float]:
    intersection, union = stats.sum(dim=0)
    ious = {
        label.name.lower(): float(intersection[label] / union[label]) for label in CLASSES if union[label] > 0
    }
    if union[ARMS] > 0:
        ious["arms"] = float(intersection[ARMS] / union[ARMS])
    return ious


def per_class_iou(stats: Tensor) -> dict[str, float] | None:
    """{class name: IoU} over the classes that occur, and `arms`, from (N, 2, NUM_LABELS + 1)
    intersection/union counts."""
    return _class_ious(stats) or None


def mean_iou(stats: Tensor) -> float | None:
    """Mean of the per-class IoUs of G1's classes that occur (`arms` is not one more class)."""
    ious = _class_ious(stats)
    ious.pop("arms", None)
    return sum(ious.values()) / len(ious) if ious else None


def g1_target(label: Tensor) -> Tensor:
    """(B, H, W) the layout G1 is trained to predict: the parsing map without the worn garment."""
    return layout_without_garment(label, worn_garment_mask(label))[:, 0]


@register_metric(
    "layout/iou", higher_is_better=True, reduce=per_class_iou, requires=PAIRED_TRYON, description=_DESCRIPTION
)
@register_metric(
    "layout/miou",
    higher_is_better=True,
    reduce=mean_iou,
    requires=PAIRED_TRYON,
    description=f"{_DESCRIPTION}, mean over classes",
)
def layout_counts(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B, 2, NUM_LABELS + 1) per-id pixel counts of intersection and union, from one confusion
    matrix per sample, and those of both arms as one class in the last column."""
    predicted = batch.layout_ids
    if predicted is None:
        return None
    for name, ids in (("layout", predicted), ("label", batch.label)):
        # An id outside the table would land in another sample's or class's bin of the bincount.
        if ids.numel() and not 0 <= int(ids.min()) <= int(ids.max()) < NUM_LABELS:
            raise ValueError(f"EvalBatch.{name} holds ids outside 0..{NUM_LABELS - 1}")
    target = g1_target(batch.label)
    size = predicted.shape[0]
    pairs = (predicted.long() * NUM_LABELS + target.long()).flatten(1)
    pairs = pairs + torch.arange(size, device=pairs.device)[:, None] * NUM_LABELS**2
    confusion = torch.bincount(pairs.flatten(), minlength=size * NUM_LABELS**2).view(
        size, NUM_LABELS, NUM_LABELS
    )
    intersection = confusion.diagonal(dim1=1, dim2=2)
    union = confusion.sum(dim=1) + confusion.sum(dim=2) - intersection
    predicted_arms = region_mask(predicted, ARM_LABELS, dtype=torch.bool)[:, 0]
    true_arms = region_mask(target, ARM_LABELS, dtype=torch.bool)[:, 0]
    arm_counts = torch.stack(
        [(predicted_arms & true_arms).sum(dim=(1, 2)), (predicted_arms | true_arms).sum(dim=(1, 2))], dim=1
    )
    return torch.cat([torch.stack([intersection, union], dim=1), arm_counts[:, :, None]], dim=2)
