"""The metric registry: each metric is a per-sample statistic plus a reduction over any subset.

Splitting a metric into `compute` (per sample, batch by batch) and `reduce` (over the samples of
the whole split or of one difficulty level) lets every metric be stratified the same way, FID and
dataset-level IoU included: their per-sample statistics are features and pixel counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from tryon.eval.context import MetricContext
    from tryon.eval.records import EvalBatch

Compute = Callable[["EvalBatch", "MetricContext"], Tensor | None]
Reduction = Callable[[Tensor], float | dict[str, float] | None]


def mean_of_finite(stats: Tensor) -> float | None:
    """Mean of the finite per-sample values; None when there are none (e.g. every region empty)."""
    values = stats[torch.isfinite(stats)]
    return float(values.double().mean()) if values.numel() else None


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    `compute(batch, context)` returns per-sample statistics with the batch as the first dimension,
    or None when the batch lacks the metric's inputs. `reduce(stats)` turns the statistics of any
    subset of samples into a value, a {suffix: value} dict (keys `name/suffix`), or None when the
    subset is too small. `prepare(context)` runs once and raises MetricUnavailable when the metric
    cannot run here; `unavailable` marks a metric that never runs in this build, with the reason.
    """

    name: str
    higher_is_better: bool
    compute: Compute | None
    reduce: Reduction = mean_of_finite
    requires: str = ""  # what the batches must carry; the note when none did
    prepare: Callable[[MetricContext], object] | None = None
    unavailable: str | None = None


_REGISTRY: dict[str, MetricSpec] = {}


def _add(spec: MetricSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec


def register_metric(
    name: str,
    *,
    higher_is_better: bool,
    reduce: Reduction = mean_of_finite,
    requires: str = "",
    prepare: Callable[[MetricContext], object] | None = None,
) -> Callable[[Compute], Compute]:
    """Decorator registering `compute` as metric `name` (e.g. `paired/ssim`); see MetricSpec."""

    def decorate(compute: Compute) -> Compute:
        _add(MetricSpec(name, higher_is_better, compute, reduce, requires, prepare))
        return compute

    return decorate


def declare_unavailable(name: str, *, higher_is_better: bool, reason: str) -> None:
    """Register a metric this build cannot compute: the report says why, the gate knows its direction."""
    _add(MetricSpec(name, higher_is_better, compute=None, unavailable=reason))


def registered_metrics() -> tuple[MetricSpec, ...]:
    """All metrics, in registration order."""
    return tuple(_REGISTRY.values())


SYSTEM_PREFIXES = ("baseline/",)
"""Key prefixes naming a system other than the model; `metric_direction` looks through them."""


def metric_direction(key: str) -> bool | None:
    """True if higher is better for a metrics.json key, False if lower, None if not a metric.

    The key is matched by its leading path components, so `baseline/layout/iou/hair/hard` has the
    direction of `layout/iou`.
    """
    for prefix in SYSTEM_PREFIXES:
        key = key.removeprefix(prefix)
    parts = key.split("/")
    for spec in _REGISTRY.values():
        name_parts = spec.name.split("/")
        if parts[: len(name_parts)] == name_parts:
            return spec.higher_is_better
    return None
