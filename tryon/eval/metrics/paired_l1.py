"""`paired/l1/{full,changed}`: mean absolute error of the paired try-on against the person photo, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED, PAIRED_TRYON, absolute_error, paired
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "paired/l1",
    higher_is_better=False,
    parts=REGIONS,
    requires=PAIRED_TRYON,
    description=f"paired L1: {PAIRED}",
)
def paired_l1(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) mean absolute error over it} on [0, 1] intensities (half the training loss's
    [-1, 1] L1); None for unpaired pairs."""
    comparison = paired(batch)
    if comparison is None:
        return None
    return comparison.over_regions(absolute_error(comparison))
