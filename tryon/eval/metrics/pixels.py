"""Pixel helpers the image metrics share: [0, 1] intensities, binary masks, the SSIM map, and the
two comparisons (paired, unpaired) averaged over each region of `tryon.eval.regions`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from tryon.eval.records import EvalBatch
from tryon.eval.regions import REGIONS

MASK_THRESHOLD = 0.5

UNPAIRED_GROUND_TRUTH = "unpaired ground truth and its changed region (the dataset's {phase}_unpaired_gt/)"
PAIRED = "try-on of the person's own garment vs. the photo"
PAIRED_TRYON = "paired try-ons (pairs whose garment is the one the person wears)"
UNPAIRED = "try-on of another garment vs. the synthetic ground truth (the person wearing it)"


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


@dataclass(frozen=True)
class Comparison:
    """A try-on, what it is judged against, and the changed region of its samples."""

    prediction: Tensor  # (B, 3, H, W) in [-1, 1]
    target: Tensor  # (B, 3, H, W) in [-1, 1]
    changed: Tensor  # (B, H, W) bool

    def over_regions(self, values: Tensor) -> dict[str, Tensor]:
        """{region: (B,) mean of (B, H, W) per-pixel values over it} for each of `REGIONS`; the mean
        over an empty changed region is NaN (undefined, left out of the split's mean)."""
        means = {"full": values.mean(dim=(1, 2)), "changed": region_mean(values, self.changed)}
        return {region: means[region] for region in REGIONS}


def paired(batch: EvalBatch) -> Comparison | None:
    """The paired try-on against the photo, over `changed_region`; None in a batch of unpaired pairs."""
    if batch.tryon is None or batch.target is None:
        return None
    return Comparison(batch.tryon, batch.target, binary(batch.changed_region))


def unpaired(batch: EvalBatch) -> Comparison | None:
    """The unpaired try-on against its ground truth, over `unpaired_changed_region`; None without them."""
    if batch.unpaired_tryon is None or batch.unpaired_target is None or batch.unpaired_changed_region is None:
        return None
    return Comparison(batch.unpaired_tryon, batch.unpaired_target, binary(batch.unpaired_changed_region))


def absolute_error(comparison: Comparison) -> Tensor:
    """(B, H, W) absolute [0, 1] error averaged over the channels."""
    return (to_unit(comparison.prediction) - to_unit(comparison.target)).abs().mean(dim=1)


def squared_error(comparison: Comparison) -> Tensor:
    """(B, H, W) squared [0, 1] error averaged over the channels."""
    return (to_unit(comparison.prediction) - to_unit(comparison.target)).square().mean(dim=1)


PSNR_CAP_DB = 100.0
"""Identical images have infinite PSNR; the cap keeps metrics.json finite (JSON has no infinity)."""


def psnr(mse: Tensor) -> Tensor:
    """PSNR in dB of [0, 1] mean squared errors, capped at PSNR_CAP_DB; NaN stays NaN."""
    return (10 * torch.log10(1 / mse)).clamp(max=PSNR_CAP_DB)
