"""ACGPN's content fusion module (CFM) generator G3: renders the try-on image."""

from __future__ import annotations

from torch import Tensor

from tryon.labels import NUM_LABELS
from tryon.nets.channels import RGB
from tryon.nets.generator import ConditionalGenerator


class FusionGenerator(ConditionalGenerator):
    """G3: the try-on image in [-1, 1] from the image with holes, the composed layout, the refined
    warped garment and the skin colour map (see `tryon.ops.composition`)."""

    CONDITION_CHANNELS = RGB + NUM_LABELS + RGB + RGB
    OUT_CHANNELS = RGB

    def forward(
        self,
        *,
        image_with_holes: Tensor,
        layout: Tensor,
        garment: Tensor,
        skin_colour: Tensor,
        noise: Tensor | None = None,
    ) -> Tensor:
        """(B, 3, H, W) image from the image with holes (B, 3, H, W), the one-hot composed layout
        (B, NUM_LABELS, H, W), the refined warped garment (B, 3, H, W), the skin colour (B, 3, H, W)."""
        return self.generate([image_with_holes, layout, garment, skin_colour], noise).tanh()
