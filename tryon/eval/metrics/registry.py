"""The metric registry: each metric is a per-sample value or a per-sample statistic plus a reduction.

Per-sample metrics (SSIM, PSNR, L1, warp IoU) give one value per sample, or one per named part
(the regions `full` and `changed`); the Evaluator keeps them in a table, one row per sample, and a
metric's value over any subset of samples (the split, a difficulty level) is the mean of that
table's column. Set metrics (FID, KID, layout IoU pooled over samples) give per-sample statistics
(features, pixel counts) and a `reduce` that turns those of any subset into a value, so they are
stratified the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from tryon.eval.context import MetricContext
    from tryon.eval.records import EvalBatch

Compute = Callable[["EvalBatch", "MetricContext"], Tensor | dict[str, Tensor] | None]
Reduction = Callable[[Tensor], float | dict[str, float] | None]


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    `compute(batch, context)` returns, with the batch as the first dimension, None when the batch
    lacks the metric's inputs, else:
    - for a per-sample metric (`reduce` None): (B,) values, or {part: (B,) values} for each of
      `parts` (keys `name/part`); NaN marks a sample where the metric is undefined (an empty region);
    - for a set metric: per-sample statistics that `reduce` turns, for any subset of samples, into
      a value, a {suffix: value} dict (keys `name/suffix`), or None.
    `prepare(context)` runs once and raises MetricUnavailable when the metric cannot run here;
    `unavailable` marks a metric that never runs in this build, with the reason. A subset of fewer
    than `min_samples` samples gets no value. `description` says what is compared, for the report.
    """

    name: str
    higher_is_better: bool
    compute: Compute | None
    reduce: Reduction | None = None
    parts: tuple[str, ...] = ()
    requires: str = ""  # what the batches must carry; the note when none did
    prepare: Callable[[MetricContext], object] | None = None
    unavailable: str | None = None
    min_samples: int = 0
    description: str = ""

    @property
    def per_sample(self) -> bool:
        return self.reduce is None

    @property
    def keys(self) -> tuple[str, ...]:
        """The metrics.json keys of a per-sample metric (its parts, or its name alone)."""
        return tuple(f"{self.name}/{part}" for part in self.parts) or (self.name,)


_REGISTRY: dict[str, MetricSpec] = {}


def _add(spec: MetricSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec


def register_metric(
    name: str,
    *,
    higher_is_better: bool,
    description: str,
    reduce: Reduction | None = None,
    parts: tuple[str, ...] = (),
    requires: str = "",
    prepare: Callable[[MetricContext], object] | None = None,
    min_samples: int = 0,
) -> Callable[[Compute], Compute]:
    """Decorator registering `compute` as metric `name` (e.g. `paired/ssim`); see MetricSpec."""

    def decorate(compute: Compute) -> Compute:
        _add(
            MetricSpec(
                name,
                higher_is_better,
                compute,
                reduce=reduce,
                parts=parts,
                requires=requires,
                prepare=prepare,
                min_samples=min_samples,
                description=description,
            )
        )
        return compute

    return decorate


def declare_unavailable(name: str, *, higher_is_better: bool, description: str, reason: str) -> None:
    """Register a metric this build cannot compute: the report says why, the gate knows its direction."""
    _add(MetricSpec(name, higher_is_better, compute=None, unavailable=reason, description=description))


def registered_metrics() -> tuple[MetricSpec, ...]:
    """All metrics, in registration order."""
    return tuple(_REGISTRY.values())


SYSTEM_PREFIXES = ("baseline/",)
"""Key prefixes naming a system other than the model; `metric_spec` looks through them."""


def metric_spec(key: str) -> MetricSpec | None:
    """The metric a metrics.json key belongs to, None if it is not a metric (e.g. `count/all`).

    The key is matched by its leading path components, the longest name first, so
    `baseline/layout/iou/hair/hard` belongs to `layout/iou` and `layout/iou/upper_clothes` to itself.
    """
    for prefix in SYSTEM_PREFIXES:
        key = key.removeprefix(prefix)
    parts = key.split("/")
    matches = [
        spec for spec in _REGISTRY.values() if parts[: len(spec.name.split("/"))] == spec.name.split("/")
    ]
    return max(matches, key=lambda spec: len(spec.name.split("/")), default=None)


def metric_direction(key: str) -> bool | None:
    """True if higher is better for a metrics.json key, False if lower, None if not a metric."""
    spec = metric_spec(key)
    return None if spec is None else spec.higher_is_better
