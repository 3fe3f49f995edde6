"""The shape shared by G1, G2 and G3: a U-Net over a concatenated condition plus noise channels."""

from __future__ import annotations

from typing import ClassVar, Self

import torch
from torch import Tensor, nn

from tryon.config import ModelConfig
from tryon.nets.unet import UNet


class ConditionalGenerator(nn.Module):
    """A U-Net whose input is a stack of condition tensors and `noise_channels` of Gaussian noise.

    Subclasses name their condition (`CONDITION_CHANNELS`, without the noise), their output
    (`OUT_CHANNELS`, what the generator's discriminator sees beside the condition); an instance
    may also predict `aux_channels` more (e.g. G3's composition mask).
    """

    CONDITION_CHANNELS: ClassVar[int]
    OUT_CHANNELS: ClassVar[int]

    def __init__(
        self,
        *,
        noise_channels: int,
        base_width: int,
        depth: int,
        max_width: int,
        checkpointing: bool = False,
        aux_channels: int = 0,
    ) -> None:
        super().__init__()
        self.noise_channels = noise_channels
        self.aux_channels = aux_channels
        self.unet = UNet(
            self.CONDITION_CHANNELS + noise_channels,
            self.OUT_CHANNELS + aux_channels,
            base_width=base_width,
            depth=depth,
            max_width=max_width,
            checkpointing=checkpointing,
        )

    @classmethod
    def from_config(cls, config: ModelConfig, *, checkpointing: bool = False) -> Self:
        """The generator with the widths of `config`."""
        return cls(
            noise_channels=config.noise_channels,
            base_width=config.base_width,
            depth=config.depth,
            max_width=config.max_width,
            checkpointing=checkpointing,
        )

    def generate(self, condition: list[Tensor], noise: Tensor | None) -> Tensor:
        """Run the U-Net on the condition and `noise` (B, noise_channels, H, W); None draws it here
        from the global generator (inference), training passes its per-sample noise explicitly."""
        if noise is None:
            reference = condition[0]
            batch, _, height, width = reference.shape
            noise = torch.randn(
                batch, self.noise_channels, height, width, dtype=reference.dtype, device=reference.device
            )
        return self.unet(torch.cat([*condition, noise], dim=1))
