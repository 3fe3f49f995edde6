"""Pixel helpers the image metrics share: [0, 1] intensities, binary masks, the SSIM map, region means."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

MASK_THRESHOLD = 0.5


def to_unit(images: Tensor) -> Tensor:
    """[-1, 1] images as float [0, 1] intensities, the scale every image metric reports on."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def binary(mask: Tensor) -> Tensor:
    """(B, 1, H, W) soft mask as (B, H, W) bool."""
    return mask[:, 0] > MASK_THRESHOLD


def ssim_map(prediction: Tensor, target: Tensor) -> Tensor:
    """(B, H, W) SSIM map of two [-1, 1] image batches, averaged over channels.

    torchmetrics' SSIM (Gaussian window 11, sigma 1.5, reflection padding, data range 1); its map
    has the images' size, so it can be averaged over the whole image or over a region alike.
    In float32, as float64 convolutions are several times slower on CPUs: where a window is
    perfectly flat the variance can round to about -1e-7, which torchmetrics clamps to 0 in the
    variances but not in the covariance, so such pixels of identical images score about 0.9998
    instead of 1 (a deficit of at most 3e-4, the same for every model).
    """
    _, full = structural_similarity_index_measure(
        to_unit(prediction), to_unit(target), data_range=1.0, reduction="none", return_full_image=True
    )
    return full.mean(dim=1)


def region_mean(values: Tensor, region: Tensor) -> Tensor:
    """(B,) mean of (B, H, W) values over each sample's (B, H, W) bool region; NaN where it is empty."""
    weights = region.to(values.dtype)
    count = weights.sum(dim=(1, 2))
    total = (values * weights).sum(dim=(1, 2))
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))
