"""ACGPN's networks, one family per module, and the containers the training and serving code use.

`TryOnGenerators` holds G1, G2, the warper and G3; `TryOnDiscriminators` one multi-scale
PatchGAN per conditional generator, each seeing its generator's condition and output.
"""

from __future__ import annotations

from typing import Self

from torch import nn

from tryon.config import ModelConfig
from tryon.nets.discriminator import EncodedCondition, MultiScaleDiscriminator, PatchDiscriminator
from tryon.nets.fusion import FusionGenerator
from tryon.nets.generator import ConditionalGenerator
from tryon.nets.sgm import GarmentMaskGenerator, LayoutGenerator
from tryon.nets.unet import UNet
from tryon.nets.vgg import VGG19Features, load_vgg19
from tryon.nets.warp import GarmentWarper, TPSRegressor, WarpOutput

__all__ = [
    "ConditionalGenerator",
    "EncodedCondition",
    "FusionGenerator",
    "GarmentMaskGenerator",
    "GarmentWarper",
    "LayoutGenerator",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "TPSRegressor",
    "TryOnDiscriminators",
    "TryOnGenerators",
    "UNet",
    "VGG19Features",
    "WarpOutput",
    "load_vgg19",
]


class TryOnGenerators(nn.Module):
    """G1 (layout), G2 (worn-garment mask), the warper (TPS + refinement) and G3 (fusion)."""

    def __init__(
        self, *, g1: LayoutGenerator, g2: GarmentMaskGenerator, warper: GarmentWarper, g3: FusionGenerator
    ) -> None:
        super().__init__()
        self.g1 = g1
        self.g2 = g2
        self.warper = warper
        self.g3 = g3

    @classmethod
    def from_config(cls, config: ModelConfig, *, checkpointing: bool = False) -> Self:
        """All four generators with the widths of `config`; `checkpointing` recomputes U-Net levels."""
        return cls(
            g1=LayoutGenerator.from_config(config, checkpointing=checkpointing),
            g2=GarmentMaskGenerator.from_config(config, checkpointing=checkpointing),
            warper=GarmentWarper.from_config(config, checkpointing=checkpointing),
            g3=FusionGenerator.from_config(config, checkpointing=checkpointing),
        )


def discriminator_for(
    generator: type[ConditionalGenerator], config: ModelConfig, *, spectral_norm: bool
) -> nn.Module:
    """A conditional discriminator over cat[generator condition, real or generated output]."""
    return MultiScaleDiscriminator(
        generator.CONDITION_CHANNELS,
        generator.OUT_CHANNELS,
        width=config.disc_width,
        layers=config.disc_layers,
        scales=config.disc_scales,
        spectral_norm=spectral_norm,
    )


class TryOnDiscriminators(nn.Module):
    """D1, D2 and D3 for G1, G2 and G3. Each input is the generator's condition (its input without
    the noise) concatenated with the real or generated output, as in pix2pixHD."""

    def __init__(self, *, d1: nn.Module, d2: nn.Module, d3: nn.Module) -> None:
        super().__init__()
        self.d1 = d1
        self.d2 = d2
        self.d3 = d3

    @classmethod
    def from_config(cls, config: ModelConfig, *, spectral_norm: bool = False) -> Self:
        """The three discriminators with the widths, layers and scales of `config`."""
        return cls(
            d1=discriminator_for(LayoutGenerator, config, spectral_norm=spectral_norm),
            d2=discriminator_for(GarmentMaskGenerator, config, spectral_norm=spectral_norm),
            d3=discriminator_for(FusionGenerator, config, spectral_norm=spectral_norm),
        )
