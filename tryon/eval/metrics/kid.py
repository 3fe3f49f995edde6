"""`unpaired/kid`: kernel Inception distance between unpaired try-ons and the test photos (torchmetrics)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torchmetrics.image.kid import KernelInceptionDistance

from tryon.eval.metrics.features import UNPAIRED_TRYON, PrecomputedFeatures, unpaired_and_real_features
from tryon.eval.metrics.registry import register_metric

KID_SUBSET_SIZE = 1000  # torchmetrics' default; smaller splits use all their samples per subset
KID_SEED = 0  # the subsets are random; a fixed seed makes reruns (and the quality gate) repeatable


def kernel_distance(stats: Tensor) -> float | None:
    """Mean KID over random subsets of (N, 2, D) generated/real features; None below two samples."""
    count = stats.shape[0]
    if count < 2:
        return None
    with warnings.catch_warnings():
        # It warns that it keeps every feature in memory; the features are already in memory here.
        warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(stats.shape[-1]), subset_size=min(KID_SUBSET_SIZE, count)
        )
    metric.update(stats[:, 1].double(), real=True)
    metric.update(stats[:, 0].double(), real=False)
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
)(unpaired_and_real_features)
