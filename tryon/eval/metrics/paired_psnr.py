"""`paired/psnr`: peak signal-to-noise ratio of the paired try-on against the person photo."""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import to_unit
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch

PSNR_CAP_DB = 100.0
"""Identical images have infinite PSNR; the cap keeps metrics.json finite (JSON has no infinity)."""


@register_metric("paired/psnr", higher_is_better=True)
def paired_psnr(batch: EvalBatch, context: MetricContext) -> Tensor:
    """(B,) per-image PSNR in dB on [0, 1] intensities, capped at PSNR_CAP_DB; the split's value is
    the mean of the per-image values."""
    mse = (to_unit(batch.tryon) - to_unit(batch.target)).square().mean(dim=(1, 2, 3))
    return (10 * torch.log10(1 / mse)).clamp(max=PSNR_CAP_DB)
