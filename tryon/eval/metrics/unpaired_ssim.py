"""`unpaired/ssim/{full,changed}`: SSIM of the unpaired try-on against the synthetic ground truth, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import UNPAIRED, UNPAIRED_GROUND_TRUTH, ssim_map, unpaired
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "unpaired/ssim",
    higher_is_better=True,
    parts=REGIONS,
    requires=UNPAIRED_GROUND_TRUTH,
    description=f"unpaired SSIM: {UNPAIRED}",
)
def unpaired_ssim(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) mean of the SSIM map over it}; None without unpaired ground truth."""
    comparison = unpaired(batch)
    if comparison is None:
        return None
    return comparison.over_regions(ssim_map(comparison.prediction, comparison.target))
