"""`unpaired/l1`: mean absolute error of the unpaired try-on against the synthetic ground truth, in the
garment region."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import binary, region_mean, to_unit
from tryon.eval.metrics.registry import register_metric
from tryon.eval.metrics.unpaired_ssim import UNPAIRED_GROUND_TRUTH
from tryon.eval.records import EvalBatch


@register_metric("unpaired/l1", higher_is_better=False, requires=UNPAIRED_GROUND_TRUTH)
def unpaired_l1(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B,) mean absolute [0, 1] error over `unpaired_region` and the channels; NaN where it is empty."""
    if batch.unpaired_tryon is None or batch.unpaired_target is None or batch.unpaired_region is None:
        return None
    error = (to_unit(batch.unpaired_tryon) - to_unit(batch.unpaired_target)).abs().mean(dim=1)
    return region_mean(error, binary(batch.unpaired_region))
