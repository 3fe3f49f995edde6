"""`unpaired/fid`: Fréchet Inception distance between unpaired try-ons and a real set that is not their
inputs (torchmetrics; see `features`)."""

from __future__ import annotations

from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance

from tryon.eval.metrics.features import (
    MIN_IMAGES,
    REAL_SET,
    UNPAIRED_TRYON,
    PrecomputedFeatures,
    generated_and_real,
    tryon_and_real_features,
)
from tryon.eval.metrics.registry import register_metric


def frechet_distance(stats: Tensor) -> float | None:
    """FID of (N, 3, D) statistics (`tryon_and_real_features`); None below two images per set."""
    generated, real = generated_and_real(stats)
    if min(len(generated), len(real)) < 2:
        return None
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(stats.shape[-1]))
    metric.update(real.double(), real=True)
    metric.update(generated.double(), real=False)
    return float(metric.compute())


register_metric(
    "unpaired/fid",
    higher_is_better=False,
    reduce=frechet_distance,
    requires=UNPAIRED_TRYON,
    prepare=lambda context: context.inception,
    min_samples=MIN_IMAGES,
    description=f"FID: {REAL_SET}",
)(tryon_and_real_features)
