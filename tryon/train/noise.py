"""Generator noise that depends only on (seed, epoch, sample index, generator), not on the batch.

ACGPN feeds G1, G2 and G3 a Gaussian noise channel. Drawing it from a global generator makes the
noise of a sample depend on its position in the batch, on the number of devices and on where a
resumed run restarted. Deriving it per sample keeps a step identical whether its batch runs on one
process or is split over several, and after `--resume`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from tryon.nets import TryOnGenerators

NOISY_GENERATORS = ("g1", "g2", "g3")


def sample_seed(seed: int, epoch: int, index: int, slot: int) -> int:
    """A well-mixed 63-bit seed for one sample's noise in one generator."""
    return int(np.random.SeedSequence((seed, epoch, index, slot)).generate_state(1, dtype=np.uint64)[0] >> 1)


class SampleNoise:
    """Supplies the noise of G1, G2 and G3 for the samples of the current micro-batch.

    It hooks the generators' forward calls (`tryon.pipeline` calls them without a `noise` argument)
    and passes per-sample noise, or zeros when `enabled` is False. Call `set_batch` before each
    forward with the batch's dataset indices and the epoch.
    """

    def __init__(self, generators: TryOnGenerators, *, seed: int, enabled: bool) -> None:
        self.seed = seed
        self.enabled = enabled
        self._indices: list[int] = []
        self._epoch = 0
        self._handles: list[RemovableHandle] = [
            getattr(generators, name).register_forward_pre_hook(self._hook(slot), with_kwargs=True)
            for slot, name in enumerate(NOISY_GENERATORS)
        ]

    def set_batch(self, indices: list[int], epoch: int) -> None:
        """The dataset indices of the micro-batch the next forward passes see, and their epoch."""
        self._indices = list(indices)
        self._epoch = epoch

    def remove(self) -> None:
        """Detach the hooks (the generators sample their own noise again)."""
        for handle in self._handles:
            handle.remove()

    def noise(self, slot: int, channels: int, reference: Tensor) -> Tensor:
        """(B, channels, H, W) noise for generator `slot`, shaped and placed like `reference`."""
        batch, _, height, width = reference.shape
        if len(self._indices) != batch:
            raise RuntimeError(f"SampleNoise has {len(self._indices)} sample indices for a batch of {batch}")
        shape = (channels, height, width)
        if not self.enabled:
            return reference.new_zeros((batch, *shape))
        samples = []
        for index in self._indices:
            generator = torch.Generator(device=reference.device)
            generator.manual_seed(sample_seed(self.seed, self._epoch, index, slot))
            samples.append(
                torch.randn(shape, generator=generator, device=reference.device, dtype=reference.dtype)
            )
        return torch.stack(samples)

    def _hook(self, slot: int):
        def add_noise(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            if kwargs.get("noise") is None:
                reference = next(value for value in kwargs.values() if isinstance(value, Tensor))
                kwargs["noise"] = self.noise(slot, module.noise_channels, reference)
            return args, kwargs

        return add_noise
