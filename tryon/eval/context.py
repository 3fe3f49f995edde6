"""Resources the metrics of one Evaluator share: networks loaded once, features computed once."""

from __future__ import annotations

import torch
from torch import Tensor

from tryon.eval.weights import EvalWeights, InceptionFeatures, MetricUnavailable, load_inception


class MetricContext:
    """Lazily loaded metric networks plus a per-batch cache of their features.

    The model and the naive baseline are scored on the same person images, and FID and KID read
    the same features, so each image tensor goes through Inception once per batch.
    """

    def __init__(self, weights: EvalWeights, device: torch.device | str) -> None:
        self.weights = weights
        self.device = torch.device(device)
        self._inception: InceptionFeatures | None = None
        self._inception_error: MetricUnavailable | None = None
        # Keyed by id(); the tensor is kept in the value so that its id cannot be reused meanwhile.
        self._features: dict[int, tuple[Tensor, Tensor]] = {}

    @property
    def inception(self) -> InceptionFeatures:
        """The FID Inception; raises MetricUnavailable (every time) when it cannot be loaded."""
        if self._inception_error is not None:
            raise self._inception_error
        if self._inception is None:
            try:
                self._inception = load_inception(self.weights.inception, self.device)
            except MetricUnavailable as error:
                self._inception_error = error
                raise
        return self._inception

    def inception_features(self, images: Tensor) -> Tensor:
        """(B, 2048) Inception features of (B, 3, H, W) images in [-1, 1], cached for this batch."""
        cached = self._features.get(id(images))
        if cached is None:
            cached = (images, self.inception(images))
            self._features[id(images)] = cached
        return cached[1]

    def next_batch(self) -> None:
        """Forget the previous batch's features."""
        self._features.clear()
