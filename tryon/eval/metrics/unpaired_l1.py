"""`unpaired/l1/{full,changed}`: mean absolute error of the unpaired try-on against the synthetic ground
truth, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import UNPAIRED, UNPAIRED_GROUND_TRUTH, absolute_error, unpaired
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "unpaired/l1",
    higher_is_better=False,
    parts=REGIONS,
    requires=UNPAIRED_GROUND_TRUTH,
    description=f"unpaired L1: {UNPAIRED}",
)
def unpaired_l1(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) mean absolute [0, 1] error over it}; None without unpaired ground truth."""
    comparison = unpaired(batch)
    return None if comparison is None else comparison.over_regions(absolute_error(comparison))
