"""ACGPN's content fusion module (CFM) generator G3: renders the try-on image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from torch import Tensor

from tryon.config import ModelConfig
from tryon.labels import NUM_LABELS
from tryon.nets.channels import MASK, RGB
from tryon.nets.generator import ConditionalGenerator


@dataclass(frozen=True)
class FusionRender:
    """G3's outputs: a rendered person and, where G3 predicts one, where to show the warped garment
    instead."""

    rendered: Tensor  # (B, 3, H, W) in [-1, 1]
    composition_mask: Tensor | None  # (B, 1, H, W) in [0, 1], before it is limited to the garment
    # region; None when G3 has no composition mask (model.tryon_composition_mask false, as ACGPN)

    def compose(self, garment: Tensor, garment_region: Tensor) -> Tensor:
        """mask * garment + (1 - mask) * rendered, the mask limited to `garment_region` (B, 1, H, W);
        the rendering alone when G3 predicts no mask.

        As CP-VTON's try-on module: the warped garment's own pixels reach the output from the first
        step, and G3 learns where to trust them instead of having to redraw the pattern.
        """
        if self.composition_mask is None:
            return self.rendered
        mask = self.composition_mask * garment_region
        return mask * garment + (1 - mask) * self.rendered


class FusionGenerator(ConditionalGenerator):
    """G3: the try-on from the image with holes, the composed layout, the refined warped garment and
    the skin map (the skin colour painted where arms are to be drawn; see `tryon.ops.composition`).

    With `composition_mask` its U-Net also predicts the mask that composes the rendering with the
    warped garment (ours); without it, G3 outputs the rendering alone, as ACGPN's does.
    """

    CONDITION_CHANNELS = RGB + NUM_LABELS + RGB + RGB
    OUT_CHANNELS = RGB

    def __init__(
        self,
        *,
        noise_channels: int,
        base_width: int,
        depth: int,
        max_width: int,
        checkpointing: bool = False,
        composition_mask: bool = True,
    ) -> None:
        super().__init__(
            noise_channels=noise_channels,
            base_width=base_width,
            depth=depth,
            max_width=max_width,
            checkpointing=checkpointing,
            aux_channels=MASK if composition_mask else 0,
        )

    @classmethod
    def from_config(cls, config: ModelConfig, *, checkpointing: bool = False) -> Self:
        """G3 with the widths of `config`, with a composition mask where
        `config.tryon_composition_mask` asks for one."""
        return cls(
            noise_channels=config.noise_channels,
            base_width=config.base_width,
            depth=config.depth,
            max_width=config.max_width,
            checkpointing=checkpointing,
            composition_mask=config.tryon_composition_mask,
        )

    def forward(
        self,
        *,
        image_with_holes: Tensor,
        layout: Tensor,
        garment: Tensor,
        skin: Tensor,
        noise: Tensor | None = None,
    ) -> FusionRender:
        """From the image with holes (B, 3, H, W), the one-hot composed layout (B, NUM_LABELS, H, W),
        the refined warped garment (B, 3, H, W) and the skin map (B, 3, H, W)."""
        output = self.generate([image_with_holes, layout, garment, skin], noise)
        mask = output[:, RGB:].sigmoid() if self.aux_channels else None
        return FusionRender(rendered=output[:, :RGB].tanh(), composition_mask=mask)
