"""Per-sample Inception features for FID and KID, and the bridge into torchmetrics' maths."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tryon.eval.context import MetricContext
from tryon.eval.records import EvalBatch

UNPAIRED_TRYON = "unpaired try-on outputs (EvalBatch.unpaired_tryon)"


def unpaired_and_real_features(batch: EvalBatch, context: MetricContext) -> Tensor | None:
    """(B, 2, D): features of the unpaired try-on (index 0) and of the person photo (index 1).

    As in VITON-HD, the generated set is the unpaired try-on and the real set the test photos.
    """
    if batch.unpaired_tryon is None:
        return None
    generated = context.inception_features(batch.unpaired_tryon)
    return torch.stack([generated, context.inception_features(batch.person)], dim=1)


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
