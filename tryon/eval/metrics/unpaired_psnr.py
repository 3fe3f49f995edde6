"""`unpaired/psnr/{full,changed}`: PSNR of the unpaired try-on against the synthetic ground truth, per region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import UNPAIRED, UNPAIRED_GROUND_TRUTH, psnr, squared_error, unpaired
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS


@register_metric(
    "unpaired/psnr",
    higher_is_better=True,
    parts=REGIONS,
    requires=UNPAIRED_GROUND_TRUTH,
    description=f"unpaired PSNR: {UNPAIRED}",
)
def unpaired_psnr(batch: EvalBatch, context: MetricContext) -> dict[str, Tensor] | None:
    """{region: (B,) PSNR in dB of the mean squared [0, 1] error over it}, capped at PSNR_CAP_DB;
    None without unpaired ground truth."""
    comparison = unpaired(batch)
    if comparison is None:
        return None
    return {region: psnr(mse) for region, mse in comparison.over_regions(squared_error(comparison)).items()}
