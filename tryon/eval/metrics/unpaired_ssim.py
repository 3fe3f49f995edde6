"""`unpaired/ssim`: SSIM of the unpaired try-on against the synthetic ground truth, in the garment region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import binary, region_mean, ssim_map
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch

UNPAIRED_GROUND_TRUTH = "unpaired ground truth and its garment region (the dataset's {phase}_unpaired_gt/)"


@register_metric("unpaired/ssim", higher_is_better=True, requires=UNPAIRED_GROUND_TRUTH)
def unpaired_ssim(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B,) mean of the SSIM map over `unpaired_region`; NaN (skipped) where the region is empty."""
    if batch.unpaired_tryon is None or batch.unpaired_target is None or batch.unpaired_region is None:
        return None
    return region_mean(ssim_map(batch.unpaired_tryon, batch.unpaired_target), binary(batch.unpaired_region))
