"""`paired/psnr/{full,changed}`: PSNR of the paired try-on against the person photo, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import PAIRED, PAIRED_TRYON, paired, psnr, squared_error
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "paired/psnr",
    higher_is_better=True,
    parts=REGIONS,
    requires=PAIRED_TRYON,
    description=f"paired PSNR: {PAIRED}",
)
def paired_psnr(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) PSNR in dB of the mean squared [0, 1] error over it}, capped at PSNR_CAP_DB;
    the split's value is the mean of the per-image values. None for unpaired pairs."""
    comparison = paired(batch)
    if comparison is None:
        return None
    return {region: psnr(mse) for region, mse in comparison.over_regions(squared_error(comparison)).items()}
