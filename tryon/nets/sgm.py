"""ACGPN's semantic generation module (SGM): G1 predicts the body layout, G2 the worn-garment mask."""

from __future__ import annotations

from torch import Tensor

from tryon.labels import NUM_KEYPOINTS, NUM_LABELS
from tryon.nets.channels import MASK, RGB
from tryon.nets.generator import ConditionalGenerator

SGM_CONDITION_CHANNELS = MASK + RGB + NUM_LABELS + NUM_KEYPOINTS
"""Garment mask, masked garment, a one-hot body layout and the pose maps: what G1 and G2 both see."""


class SemanticGenerator(ConditionalGenerator):
    """G1 and G2 share their inputs; they differ in the layout they are given and what they predict."""

    CONDITION_CHANNELS = SGM_CONDITION_CHANNELS

    def forward(
        self,
        *,
        garment: Tensor,
        garment_mask: Tensor,
        body_layout: Tensor,
        pose_maps: Tensor,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Logits from the garment (B, 3, H, W), its mask (B, 1, H, W), a one-hot body layout
        (B, NUM_LABELS, H, W), pose maps (B, NUM_KEYPOINTS, H, W) and optional noise."""
        masked_garment = garment * garment_mask
        return self.generate([garment_mask, masked_garment, body_layout, pose_maps], noise)


class LayoutGenerator(SemanticGenerator):
    """G1: the person's layout for the new garment, as (B, NUM_LABELS, H, W) logits.

    `body_layout` is the fused layout (`tryon.ops.composition.body_layout`), in which arms and
    clothes are one region, so G1 has to decide where the arms go for this garment. Trained with
    cross-entropy against `layout_without_garment`.
    """

    OUT_CHANNELS = NUM_LABELS


class GarmentMaskGenerator(SemanticGenerator):
    """G2: the mask of the new garment as worn, as (B, 1, H, W) logits.

    `body_layout` is G1's discrete layout, one-hot. Trained with binary cross-entropy against the
    worn-garment mask.
    """

    OUT_CHANNELS = MASK
