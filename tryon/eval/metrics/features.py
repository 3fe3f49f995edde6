"""Per-sample Inception features for FID and KID, their real set, and the bridge into torchmetrics' maths.

The real set is never the try-ons' own inputs (most of an unpaired try-on's pixels are its input
photo when the model keeps the photo outside the repainted region, which would flatter it):
- with unpaired ground truth (synthetic data), the real set is the ground-truth images, the
  people wearing the garments the try-ons put on them;
- without it, the real set is other test persons: the try-ons of every other sample (in split
  order) are compared with the photos of the samples in between, so no photo is the input of a
  try-on it is compared with. Each set then holds half of the samples.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tryon.eval.context import MetricContext
from tryon.eval.records import EvalBatch

UNPAIRED_TRYON = "unpaired try-on outputs (EvalBatch.unpaired_tryon)"

MIN_IMAGES = 50
"""Fewer try-ons than this get no FID/KID: both are strongly biased on small sets (FID needs a
2048 x 2048 covariance), so a number from, say, 16 images says little and changes with the set size."""

REAL_SET = (
    "unpaired try-ons vs. a real set that is not their inputs: the unpaired ground-truth images "
    "(or, without them, the photos of other test persons)"
)


def tryon_and_real_features(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B, 3, D): features of the unpaired try-on (index 0), of its ground truth (index 1; NaN
    without one) and of the person photo (index 2; NaN where the ground truth is the real image)."""
    if batch.unpaired_tryon is None:
        return None
    generated = context.inception_features(batch.unpaired_tryon)
    missing = torch.full_like(generated, float("nan"))
    if batch.unpaired_target is None:
        return torch.stack([generated, missing, context.inception_features(batch.person)], dim=1)
    return torch.stack([generated, context.inception_features(batch.unpaired_target), missing], dim=1)


def generated_and_real(stats: Tensor) -> tuple[Tensor, Tensor]:
    """The (N, D) generated and real sets from (N, 3, D) statistics, as the module docstring says."""
    truth = ~stats[:, 1].isnan().any(dim=1)
    others = stats[~truth]
    generated = torch.cat([stats[truth, 0], others[0::2, 0]])
    real = torch.cat([stats[truth, 1], others[1::2, 2]])
    return generated, real


class PrecomputedFeatures(nn.Module):
    """Identity 'feature extractor' so torchmetrics' FID/KID run on features stored per sample.

    The features are stored rather than torchmetrics' running sums so that any subset of samples
    (a difficulty level) can be scored afterwards.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features
