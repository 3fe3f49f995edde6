"""ACGPN's content fusion module (CFM) generator G3: renders the try-on image."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from tryon.labels import NUM_LABELS
from tryon.nets.channels import MASK, RGB
from tryon.nets.generator import ConditionalGenerator


@dataclass(frozen=True)
class FusionRender:
    """G3's outputs: a rendered person and where to show the warped garment instead."""

    rendered: Tensor  # (B, 3, H, W) in [-1, 1]
    composition_mask: Tensor  # (B, 1, H, W) in [0, 1], before it is limited to the garment region

    def compose(self, garment: Tensor, garment_region: Tensor) -> Tensor:
        """mask * garment + (1 - mask) * rendered, the mask limited to `garment_region` (B, 1, H, W).

        As CP-VTON's try-on module: the warped garment's own pixels reach the output from the first
        step, and G3 learns where to trust them instead of having to redraw the pattern.
        """
        mask = self.composition_mask * garment_region
        return mask * garment + (1 - mask) * self.rendered


class FusionGenerator(ConditionalGenerator):
    """G3: the try-on from the image with holes, the composed layout, the refined warped garment and
    the skin map (the skin colour painted where arms are to be drawn; see `tryon.ops.composition`)."""

    CONDITION_CHANNELS = RGB + NUM_LABELS + RGB + RGB
    OUT_CHANNELS = RGB
    AUX_CHANNELS = MASK

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
        return FusionRender(rendered=output[:, :RGB].tanh(), composition_mask=output[:, RGB:].sigmoid())
