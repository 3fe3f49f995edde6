"""`paired/ssim`: SSIM of the paired try-on against the person photo, over the whole image."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import ssim_map
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch


@register_metric("paired/ssim", higher_is_better=True)
def paired_ssim(batch: EvalBatch, context: MetricContext) -> Tensor:
    """(B,) per-image SSIM on [0, 1] intensities (torchmetrics; see `ssim_map`)."""
    return ssim_map(batch.tryon, batch.target).mean(dim=(1, 2))
