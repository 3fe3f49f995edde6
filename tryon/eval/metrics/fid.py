"""`unpaired/fid`: Fréchet Inception distance between unpaired try-ons and the test photos (torchmetrics)."""

from __future__ import annotations

from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance

from tryon.eval.metrics.features import UNPAIRED_TRYON, PrecomputedFeatures, unpaired_and_real_features
from tryon.eval.metrics.registry import register_metric


def frechet_distance(stats: Tensor) -> float | None:
    """FID of (N, 2, D) generated/real features; None below two samples (no covariance)."""
    if stats.shape[0] < 2:
        return None
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(stats.shape[-1]))
    metric.update(stats[:, 1].double(), real=True)
    metric.update(stats[:, 0].double(), real=False)
    return float(metric.compute())


register_metric(
    "unpaired/fid",
    higher_is_better=False,
    reduce=frechet_distance,
    requires=UNPAIRED_TRYON,
    prepare=lambda context: context.inception,
)(unpaired_and_real_features)
