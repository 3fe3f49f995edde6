"""`paired/ssim/{full,changed}`: SSIM of the paired try-on against the person photo, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED, PAIRED_TRYON, paired, ssim_map
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "paired/ssim",
    higher_is_better=True,
    parts=REGIONS,
    requires=PAIRED_TRYON,
    description=f"paired SSIM: {PAIRED}",
)
def paired_ssim(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) mean of the SSIM map over it} (torchmetrics' SSIM; see `ssim_map`); None for
    unpaired pairs."""
    comparison = paired(batch)
    if comparison is None:
        return None
    return comparison.over_regions(ssim_map(comparison.prediction, comparison.target))
