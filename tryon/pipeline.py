"""TryOnPipeline: inference only. Part 1 layout, Part 2 garment warp, Part 3 content fusion.

A person (avatar) is turned once into a `PersonRepresentation`; any number of garments can then be
tried on it. The steps themselves live in `tryon.steps`, which the staged trainer shares.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tryon import allocator
from tryon.checkpoint import EMA_STATE, RAW_STATE, load_checkpoint
from tryon.config import ModelConfig
from tryon.nets import TryOnGenerators, WarpOutput
from tryon.precision import inference_memory_format, resolve_precision
from tryon.steps import (
    FusionOutput,
    LayoutPrediction,
    PersonRepresentation,
    fuse,
    new_garment_region,
    predict_layout,
    represent_person,
)


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


def as_float32(value: Any) -> Any:
    """Floating tensors, also inside (nested) dataclasses, as float32; everything else unchanged."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return dataclasses.replace(value, **{f.name: as_float32(getattr(value, f.name)) for f in fields})
    return value


class TryOnPipeline:
    """Puts garments on people with trained generators (evaluation mode, no gradients).

    `precision` runs the networks under autocast and resolves as training does
    (`tryon.precision.resolve_precision`): `auto` is bf16 where the device runs it natively (it halves
    the time there), fp16 on GPUs without bf16, and fp32 on CPUs without native bf16, where emulated
    bf16 is several times slower than fp32. The composition steps and the returned tensors stay
    float32. `channels_last` chooses the weights' layout, which the pipeline sets in place; None is
    the faster one for the device and precision (`tryon.precision.inference_memory_format`, where
    the measurements are: channels_last on CUDA and for fp32 on the CPU, contiguous for bf16 there).
    """

    def __init__(
        self,
        generators: TryOnGenerators,
        config: ModelConfig,
        *,
        precision: str = "auto",  # auto, bf16, fp16 (CUDA) or fp32
        channels_last: bool | None = None,  # None: the device's layout
    ) -> None:
        device = next(generators.parameters()).device
        if device.type == "cpu":
            allocator.retain_freed_memory()  # each try-on reuses the last one's memory: no new pages
        self.precision = resolve_precision(precision, device)
        self.memory_format = inference_memory_format(device, channels_last, precision=self.precision.name)
        self.generators = generators.eval().to(memory_format=self.memory_format)
        self.config = config

    @classmethod
    def from_checkpoint(
        cls,
        path: Path,
        *,
        device: str | torch.device = "cpu",
        expect: ModelConfig | None = None,
        use_ema: bool = True,
        precision: str = "auto",
        channels_last: bool | None = None,
    ) -> TryOnPipeline:
        """Load generators from a training checkpoint; the EMA weights unless `use_ema` is False."""
        checkpoint = load_checkpoint(path, expect=expect, map_location=device)
        key = EMA_STATE if use_ema and EMA_STATE in checkpoint.state else RAW_STATE
        if key not in checkpoint.state:
            raise ValueError(
                f"checkpoint {path} holds no generator weights (keys: {sorted(checkpoint.state)})"
            )
        generators = TryOnGenerators.from_config(checkpoint.model_config)
        generators.load_state_dict(checkpoint.state[key])
        return cls(
            generators.to(device), checkpoint.model_config, precision=precision, channels_last=channels_last
        )

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
        with self.precision.autocast():
            output = self._run(person, garment, garment_mask)
        return as_float32(output) if self.precision.reduced else output

    def _run(self, person: PersonRepresentation, garment: Tensor, garment_mask: Tensor) -> TryOnOutput:
        # 1. Layout: where arms, body and the new garment go.
        layout = predict_layout(self.generators, person, garment, garment_mask)
        region = new_garment_region(person, layout, config=self.config)
        # 2. Warp: the laydown garment onto its predicted worn region, fitted to it.
        warp = self.generators.warper(
            garment=garment, garment_mask=garment_mask, target_mask=region, fit_to_target=True
        )
        # 3. Fusion: render the person wearing the warped garment.
        fusion = fuse(self.generators, person, layout, region, warp, config=self.config)
        return TryOnOutput(layout=layout, garment_region=region, warp=warp, fusion=fusion)
