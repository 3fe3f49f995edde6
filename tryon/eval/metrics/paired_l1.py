"""`paired/l1`: mean absolute error of the paired try-on against the person photo."""

from __future__ import annotations

from torch import Tensor

from tryon.eval.context import MetricContext
from tryon.eval.metrics.pixels import to_unit
from tryon.eval.metrics.registry import register_metric
from tryon.eval.records import EvalBatch


@register_metric("paired/l1", higher_is_better=False)
def paired_l1(batch: EvalBatch, context: MetricContext) -> Tensor:
    """(B,) mean absolute error on [0, 1] intensities (half the training loss's [-1, 1] L1)."""
    return (to_unit(batch.tryon) - to_unit(batch.target)).abs().mean(dim=(1, 2, 3))
