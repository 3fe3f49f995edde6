"""The try-on's steps as functions of the generators: what inference and training both run.

Part 1 (`predict_layout`, `new_garment_region`), Part 2 (the warper, a module of its own) and
Part 3 (`fuse`). `TryOnPipeline` (`tryon.pipeline`) chains them for inference; the staged trainer
(`tryon.train.stages`) runs the same functions with some inputs replaced by ground truth and with
its per-sample noise and inpainting masks passed in explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tryon.config import ModelConfig
from tryon.nets import TryOnGenerators, WarpOutput
from tryon.nets.fusion import FusionRender
from tryon.ops.composition import (
    body_layout,
    compose_layout,
    garment_region,
    hole_mask,
    image_with_holes,
    label_map,
    layout_labels,
    one_hot_layout,
    repainted_region,
    skin_colour,
    skin_map,
    worn_garment_mask,
)
from tryon.ops.morphology import scale_radius
from tryon.ops.pose_maps import pose_maps


@dataclass(frozen=True)
class PersonRepresentation:
    """Everything the try-on needs of a person that does not depend on the garment.

    image: (B, 3, H, W) the person photo in [-1, 1].
    labels: (B, 1, H, W) the parsing map, ACGPN ids.
    body_layout: (B, NUM_LABELS, H, W) one-hot fused layout (arms merged into clothes), G1's condition.
    pose_maps: (B, NUM_KEYPOINTS, H, W) keypoint squares.
    worn_garment: (B, 1, H, W) the garment the person wears in the photo.
    skin_colour: (B, 3, 1, 1) the person's skin colour.
    """

    image: Tensor
    labels: Tensor
    body_layout: Tensor
    pose_maps: Tensor
    worn_garment: Tensor
    skin_colour: Tensor

    def expand(self, batch: int) -> PersonRepresentation:
        """The same person repeated `batch` times (one avatar, many garments), without copying."""
        return PersonRepresentation(
            **{name: value.expand(batch, *value.shape[1:]) for name, value in vars(self).items()}
        )

    @staticmethod
    def batch(people: Sequence[PersonRepresentation]) -> PersonRepresentation:
        """One batch of `people` in order; one person repeated (one avatar, many garments) is expanded
        without copying, different people are concatenated."""
        first = people[0]
        if first.image.shape[0] == 1 and all(person is first for person in people):
            return first.expand(len(people))
        return PersonRepresentation(
            **{name: torch.cat([vars(person)[name] for person in people]) for name in vars(first)}
        )


def represent_person(image: Tensor, labels: Tensor, keypoints: Tensor, *, config: ModelConfig) -> PersonRepresentation:
    """Compute a person's representation from the photo, its parsing map and its (B, 18, 3) keypoints."""
    height, width = image.shape[-2:]
    labels = label_map(labels)
    return PersonRepresentation(
        image=image,
        labels=labels,
        body_layout=body_layout(labels, dtype=image.dtype),
        pose_maps=pose_maps(
            keypoints, height=height, width=width, radius=scale_radius(config.pose_radius, height)
        ).to(image.dtype),
        worn_garment=worn_garment_mask(labels, dtype=image.dtype),
        skin_colour=skin_colour(image, labels),
    )


@dataclass(frozen=True)
class GeneratorNoise:
    """The noise inputs of G1, G2 and G3, each (B, noise_channels, H, W); None: the generator draws its own."""

    g1: Tensor | None = None
    g2: Tensor | None = None
    g3: Tensor | None = None


@dataclass(frozen=True)
class LayoutPrediction:
    """Part 1 output: G1's layout logits and their argmax, and G2's worn-garment logits."""

    layout_logits: Tensor  # (B, NUM_LABELS, H, W)
    labels: Tensor  # (B, 1, H, W) argmax of layout_logits
    garment_logits: Tensor  # (B, 1, H, W)


@dataclass(frozen=True)
class FusionOutput:
    """Part 3 output, with what G3 was given (its discriminator sees the same)."""

    image: Tensor  # (B, 3, H, W) try-on in [-1, 1]
    composed_labels: Tensor  # (B, 1, H, W) the layout G3 renders
    image_with_holes: Tensor  # (B, 3, H, W) what G3 is given of the person
    skin: Tensor  # (B, 3, H, W) the skin colour over the arms G3 draws
    render: FusionRender  # G3's rendering and composition mask
    repainted: Tensor  # (B, 1, H, W) 1 where the image is G3's output, 0 where it is the photo


def predict_layout(
    generators: TryOnGenerators,
    person: PersonRepresentation,
    garment: Tensor,
    garment_mask: Tensor,
    *,
    noise: GeneratorNoise = GeneratorNoise(),
) -> LayoutPrediction:
    """Part 1 (SGM): G1 predicts the body layout for this garment, G2 the garment's worn mask."""
    layout_logits = generators.g1(
        garment=garment,
        garment_mask=garment_mask,
        body_layout=person.body_layout,
        pose_maps=person.pose_maps,
        noise=noise.g1,
    )
    labels = layout_labels(layout_logits)
    garment_logits = generators.g2(
        garment=garment,
        garment_mask=garment_mask,
        body_layout=one_hot_layout(labels, dtype=garment.dtype),
        pose_maps=person.pose_maps,
        noise=noise.g2,
    )
    return LayoutPrediction(layout_logits=layout_logits, labels=labels, garment_logits=garment_logits)


def new_garment_region(person: PersonRepresentation, layout: LayoutPrediction, *, config: ModelConfig) -> Tensor:
    """Where the new garment goes: G2's mask, grown a little, off the predicted arms, on the person."""
    radius = scale_radius(config.garment_dilation, person.image.shape[-2])
    return garment_region(layout.garment_logits, layout.labels, person.labels, radius=radius)


def fuse(
    generators: TryOnGenerators,
    person: PersonRepresentation,
    layout: LayoutPrediction,
    region: Tensor,
    warp: WarpOutput,
    *,
    config: ModelConfig,
    noise: GeneratorNoise = GeneratorNoise(),
    inpaint: Tensor | None = None,
) -> FusionOutput:
    """Part 3 (CFM): compose the layout, cut the holes, render with G3 and compose its rendering
    with the warped garment; with `config.keep_photo`, keep the photo outside the repainted region.

    `inpaint` (B, 1, H, W), from training only, marks further pixels of the person to cut out and
    have G3 redraw (`tryon.ops.irregular_masks` over the arms).
    """
    composed = compose_layout(layout.labels, person.labels, person.worn_garment, region)
    holes = hole_mask(
        person.labels,
        person.worn_garment,
        region,
        layout.labels,
        radius=scale_radius(config.arm_hole_dilation, person.image.shape[-2]),
    )
    if inpaint is not None:
        holes = holes.maximum(inpaint.to(holes.dtype))
    kept = image_with_holes(person.image, holes)
    skin = skin_map(person.skin_colour, composed).to(kept.dtype)
    render = generators.g3(
        image_with_holes=kept,
        layout=one_hot_layout(composed, dtype=kept.dtype),
        garment=warp.refined_garment,
        skin=skin,
        noise=noise.g3,
    )
    image = render.compose(warp.refined_garment.to(render.rendered.dtype), region.to(render.rendered.dtype))
    if config.keep_photo:
        repaint = repainted_region(holes, composed).to(image.dtype)
        image = image * repaint + person.image.to(image.dtype) * (1 - repaint)
    else:
        repaint = image.new_ones(image.shape[0], 1, *image.shape[2:])
    return FusionOutput(
        image=image,
        composed_labels=composed,
        image_with_holes=kept,
        skin=skin,
        render=render,
        repainted=repaint,
    )

