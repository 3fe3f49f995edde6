"""Per-sample random inputs of a training step: generator noise and G3's inpainting masks.

ACGPN feeds G1, G2 and G3 a Gaussian noise channel, and cuts random masks out of the arms for G3
to inpaint. Drawing them from a global generator would make a sample's draws depend on its position
in the batch, on the number of devices and on where a resumed run restarted. Deriving them from
(seed, epoch, sample index, slot) keeps a step identical whether its batch runs on one process or
is split over several, and after `--resume`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tryon.ops.irregular_masks import irregular_mask
from tryon.steps import GeneratorNoise

NOISY_GENERATORS = ("g1", "g2", "g3")
INPAINT_SLOT = len(NOISY_GENERATORS)
"""Seed slot of the inpainting masks, after the generators' noise slots."""


def sample_seed(seed: int, epoch: int, index: int, slot: int) -> int:
    """A well-mixed 63-bit seed for one sample's draw in one slot."""
    return int(np.random.SeedSequence((seed, epoch, index, slot)).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class SampleDraws:
    """The random inputs of one micro-batch."""

    noise: GeneratorNoise  # G1, G2 and G3's noise
    inpaint: Tensor | None  # (B, 1, H, W) irregular masks for G3 (before they are limited to the arms)


class SampleNoise:
    """Draws the noise of G1, G2 and G3 (zeros when `enabled` is False) and, with `inpaint_masks`,
    the irregular inpainting masks, for the samples of a micro-batch."""

    def __init__(self, *, seed: int, enabled: bool, channels: int, inpaint_masks: bool) -> None:
        self.seed = seed
        self.enabled = enabled
        self.channels = channels
        self.inpaint_masks = inpaint_masks

    def _generator(self, epoch: int, index: int, slot: int) -> torch.Generator:
        generator = torch.Generator()
        generator.manual_seed(sample_seed(self.seed, epoch, index, slot))
        return generator

    def noise(self, slot: int, indices: list[int], epoch: int, reference: Tensor) -> Tensor:
        """(B, channels, H, W) noise for generator `slot`, shaped, typed and placed like `reference`."""
        height, width = reference.shape[-2:]
        shape = (len(indices), self.channels, height, width)
        if not self.enabled:
            return reference.new_zeros(shape)
        # Drawn on the host from per-sample generators (the same numbers on every device type),
        # then copied over asynchronously: a copy to the device, never a read back from it.
        samples = [torch.randn(shape[1:], generator=self._generator(epoch, index, slot)) for index in indices]
        return torch.stack(samples).to(reference.device, reference.dtype, non_blocking=True)

    def draw(self, indices: list[int], epoch: int, *, reference: Tensor) -> SampleDraws:
        """The micro-batch's draws for the dataset `indices` in `epoch`; `reference` is a (B, C, H, W)
        image of the batch, giving the size, dtype and device."""
        if len(indices) != reference.shape[0]:
            raise ValueError(f"{len(indices)} sample indices for a batch of {reference.shape[0]}")
        noise = GeneratorNoise(
            **{name: self.noise(slot, indices, epoch, reference) for slot, name in enumerate(NOISY_GENERATORS)}
        )
        inpaint = None
        if self.inpaint_masks:
            height, width = reference.shape[-2:]
            inpaint = torch.stack(
                [
                    irregular_mask(
                        height,
                        width,
                        generator=np.random.default_rng(sample_seed(self.seed, epoch, index, INPAINT_SLOT)),
                        device=reference.device,
                    )
                    for index in indices
                ]
            )
        return SampleDraws(noise=noise, inpaint=inpaint)
