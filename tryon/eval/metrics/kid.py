"""`unpaired/kid`: kernel Inception distance between unpaired try-ons and a real set that is not their
inputs (torchmetrics; see `features`)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torchmetrics.image.kid import KernelInceptionDistance

from tryon.eval.metrics.features import (
    MIN_IMAGES,
    REAL_SET,
    UNPAIRED_TRYON,
    PrecomputedFeatures,
    generated_and_real,
    tryon_and_real_features,
)
from tryon.eval.metrics.registry import register_metric

KID_SUBSET_SIZE = 1000  # torchmetrics' default; smaller splits use all their samples per subset
KID_SEED = 0  # the subsets are random; a fixed seed makes reruns (and the quality gate) repeatable


def kernel_distance(stats: Tensor) -> float | None:
    """Mean KID over random subsets of (N, 3, D) statistics (`tryon_and_real_features`); None below
    two images per set."""
    generated, real = generated_and_real(stats)
    count = min(len(generated), len(real))
    if count < 2:
        return None
    with warnings.catch_warnings():
        # It warns that it keeps every feature in memory; the features are already in memory here.
        warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(stats.shape[-1]), subset_size=min(KID_SUBSET_SIZE, count)
        )
    metric.update(real.double(), real=True)
    metric.update(generated.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(KID_SEED)
        mean, _ = metric.compute()
    return float(mean)


register_metric(
    "unpaired/kid",
    higher_is_better=False,
    reduce=kernel_distance,
    requires=UNPAIRED_TRYON,
    prepare=lambda context: context.inception,
    min_samples=MIN_IMAGES,
    description=f"KID: {REAL_SET}",
)(tryon_and_real_features)
