"""TryOnPipeline: inference only. Part 1 layout, Part 2 garment warp, Part 3 content fusion.

A person (avatar) is turned once into a `PersonRepresentation`; any number of garments can then be
tried on it. The three parts are also module functions because the staged trainer runs the same
steps (with some inputs replaced by ground truth) to compute its losses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tryon.checkpoint import load_checkpoint
from tryon.config import ModelConfig
from tryon.nets import TryOnGenerators, WarpOutput
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
    worn_garment_mask,
)
from tryon.ops.morphology import scale_radius
from tryon.ops.pose_maps import pose_maps

EMA_STATE = "generators_ema"
"""Key of the exponential moving average of the generator weights in a checkpoint: what is served."""
RAW_STATE = "generators"


@dataclass(frozen=True)
class PersonRepresentation:
    """Everything the try-on needs of a person that does not depend on the garment.

    image: (B, 3, H, W) the person photo in [-1, 1].
    labels: (B, 1, H, W) the parsing map, ACGPN ids.
    body_layout: (B, NUM_LABELS, H, W) one-hot fused layout (arms merged into clothes), G1's condition.
    pose_maps: (B, NUM_KEYPOINTS, H, W) keypoint squares.
    worn_garment: (B, 1, H, W) the garment the person wears in the photo.
    skin_colour: (B, 3, H, W) constant map of the person's skin colour.
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
class LayoutPrediction:
    """Part 1 output: G1's layout logits and their argmax, and G2's worn-garment logits."""

    layout_logits: Tensor  # (B, NUM_LABELS, H, W)
    labels: Tensor  # (B, 1, H, W) argmax of layout_logits
    garment_logits: Tensor  # (B, 1, H, W)


@dataclass(frozen=True)
class FusionOutput:
    """Part 3 output."""

    image: Tensor  # (B, 3, H, W) try-on in [-1, 1]
    composed_labels: Tensor  # (B, 1, H, W) the layout G3 renders
    image_with_holes: Tensor  # (B, 3, H, W) what G3 is given of the person
    repainted: Tensor  # (B, 1, H, W) 1 where the image is G3's rendering, 0 where it is the photo


@dataclass(frozen=True)
class TryOnOutput:
    """The try-on image and the intermediate results that explain it."""

    layout: LayoutPrediction
    garment_region: Tensor  # (B, 1, H, W) where the new garment is rendered
    warp: WarpOutput
    fusion: FusionOutput

    @property
    def image(self) -> Tensor:
        """(B, 3, H, W) the try-on in [-1, 1]."""
        return self.fusion.image

    @property
    def composed_labels(self) -> Tensor:
        return self.fusion.composed_labels


def predict_layout(
    generators: TryOnGenerators, person: PersonRepresentation, garment: Tensor, garment_mask: Tensor
) -> LayoutPrediction:
    """Part 1 (SGM): G1 predicts the body layout for this garment, G2 the garment's worn mask."""
    layout_logits = generators.g1(
        garment=garment, garment_mask=garment_mask, body_layout=person.body_layout, pose_maps=person.pose_maps
    )
    labels = layout_labels(layout_logits)
    garment_logits = generators.g2(
        garment=garment,
        garment_mask=garment_mask,
        body_layout=one_hot_layout(labels, dtype=garment.dtype),
        pose_maps=person.pose_maps,
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
) -> FusionOutput:
    """Part 3 (CFM): compose the layout, cut the holes, render with G3, keep the rest of the photo."""
    composed = compose_layout(layout.labels, person.labels, person.worn_garment, region)
    holes = hole_mask(
        person.labels,
        person.worn_garment,
        region,
        layout.labels,
        radius=scale_radius(config.arm_hole_dilation, person.image.shape[-2]),
    )
    kept = image_with_holes(person.image, holes)
    rendered = generators.g3(
        image_with_holes=kept,
        layout=one_hot_layout(composed, dtype=kept.dtype),
        garment=warp.refined_garment,
        skin_colour=person.skin_colour,
    )
    repaint = repainted_region(holes, composed).to(rendered.dtype)
    image = rendered * repaint + person.image.to(rendered.dtype) * (1 - repaint)
    return FusionOutput(image=image, composed_labels=composed, image_with_holes=kept, repainted=repaint)


def as_float32(value: Any) -> Any:
    """Floating tensors, also inside (nested) dataclasses, as float32; everything else unchanged."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return dataclasses.replace(value, **{f.name: as_float32(getattr(value, f.name)) for f in fields})
    return value


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TryOnPipeline:
    """Puts garments on people with trained generators (evaluation mode, no gradients).

    `precision` runs the networks under autocast (`bf16` halves the time on CPUs with AVX-512
    BF16 and on GPUs; `fp16` is for GPUs without bf16); the composition steps and the returned
    tensors stay float32. `channels_last` stores the weights in the layout convolutions prefer.
    """

    def __init__(
        self,
        generators: TryOnGenerators,
        config: ModelConfig,
        *,
        precision: str = "fp32",
        channels_last: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {sorted(PRECISIONS)}")
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generators = generators.eval().to(memory_format=memory_format)
        self.config = config
        self.precision = precision

    @classmethod
    def from_checkpoint(
        cls,
        path: Path,
        *,
        device: str | torch.device = "cpu",
        expect: ModelConfig | None = None,
        use_ema: bool = True,
        precision: str = "fp32",
    ) -> TryOnPipeline:
        """Load generators from a training checkpoint; the EMA weights unless `use_ema` is False."""
        checkpoint = load_checkpoint(path, expect=expect, map_location=device)
        key = EMA_STATE if use_ema and EMA_STATE in checkpoint.state else RAW_STATE
        if key not in checkpoint.state:
            raise ValueError(f"checkpoint {path} holds no generator weights (keys: {sorted(checkpoint.state)})")
        generators = TryOnGenerators.from_config(checkpoint.model_config)
        generators.load_state_dict(checkpoint.state[key])
        return cls(generators.to(device), checkpoint.model_config, precision=precision)

    @property
    def device(self) -> torch.device:
        return next(self.generators.parameters()).device

    @torch.inference_mode()
    def represent(self, image: Tensor, labels: Tensor, keypoints: Tensor) -> PersonRepresentation:
        """The garment-independent representation of a batch of people; compute it once per avatar."""
        return represent_person(image, labels, keypoints, config=self.config)

    @torch.inference_mode()
    def __call__(self, person: PersonRepresentation, garment: Tensor, garment_mask: Tensor) -> TryOnOutput:
        """Try `garment` (B, 3, H, W) with its laydown mask (B, 1, H, W) on `person`."""
        if person.image.shape[0] == 1 and garment.shape[0] > 1:
            person = person.expand(garment.shape[0])
        dtype = PRECISIONS[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            output = self._run(person, garment, garment_mask)
        return as_float32(output) if dtype is not None else output

    def _run(self, person: PersonRepresentation, garment: Tensor, garment_mask: Tensor) -> TryOnOutput:
        # 1. Layout: where arms, body and the new garment go.
        layout = predict_layout(self.generators, person, garment, garment_mask)
        region = new_garment_region(person, layout, config=self.config)
        # 2. Warp: the laydown garment onto its predicted worn region.
        warp = self.generators.warper(garment=garment, garment_mask=garment_mask, target_mask=region)
        # 3. Fusion: render the person wearing the warped garment.
        fusion = fuse(self.generators, person, layout, region, warp, config=self.config)
        return TryOnOutput(layout=layout, garment_region=region, warp=warp, fusion=fusion)
