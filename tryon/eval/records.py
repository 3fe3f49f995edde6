"""What the evaluation loop hands to the Evaluator: one batch of model outputs and their references."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from tryon.labels import NUM_KEYPOINTS

OUTPUTS = ("tryon", "layout", "predicted_worn_mask", "warped_garment", "warped_mask", "unpaired_tryon")
"""The fields a system (the model or the naive baseline) produces; the rest are inputs and references."""


@dataclass(frozen=True)
class EvalBatch:
    """One batch of try-on outputs with the references they are judged against.

    Images are float NCHW in [-1, 1], masks float (B, 1, H, W) in [0, 1], layouts (B, H, W) ACGPN ids;
    every image, mask and layout of a batch has the same H x W. Tensors may live on any device.
    The paired fields (`garment`, `garment_mask`, `target`, `tryon`, `warped_*`, `layout`,
    `predicted_worn_mask`) are None together in a batch of unpaired pairs, whose garment is not the
    one the person wears: nothing there can be judged against the photo. The `unpaired_*` fields
    are None together when the batch has no try-on of another garment; `unpaired_tryon`,
    `unpaired_garment` and `unpaired_garment_mask` may come without the ground truth (FID/KID need
    only the try-on). The changed regions (`tryon.eval.regions`) come from ground truth only, so
    the model and the naive baseline are scored on the same pixels.
    """

    names: tuple[str, ...]  # person image names, for the report's case grids
    person: Tensor  # (B, 3, H, W) the person as photographed
    label: Tensor  # (B, H, W) true parsing ids
    worn_mask: Tensor  # (B, 1, H, W) the region the person's own garment covers in the label
    keypoints: Tensor  # (B, 18, 3) COCO-18 (x, y, confidence) in pixels
    changed_region: Tensor  # (B, 1, H, W) what a try-on may change over the photo (`regions.changed_region`)
    garment_names: tuple[str, ...] = ()  # the garment of each pair: a person may be in many pairs
    garment: Tensor | None = None  # (B, 3, H, W) the laydown garment the person wears (paired setting)
    garment_mask: Tensor | None = None  # (B, 1, H, W) its mask; the naive baseline pastes through it
    target: Tensor | None = None  # (B, 3, H, W) paired ground truth: the person image
    tryon: Tensor | None = None  # (B, 3, H, W) paired try-on output
    layout: Tensor | None = None  # G1's own layout, before composition: (B, H, W) ids or (B, C, H, W) logits
    warped_garment: Tensor | None = None  # (B, 3, H, W) the garment after the warp module
    warped_mask: Tensor | None = None  # (B, 1, H, W) its mask
    predicted_worn_mask: Tensor | None = None  # (B, 1, H, W) G2's worn-garment probability; None: no layout
    unpaired_tryon: Tensor | None = None  # (B, 3, H, W) try-on with another garment
    unpaired_garment: Tensor | None = None  # (B, 3, H, W) that garment
    unpaired_garment_mask: Tensor | None = None  # (B, 1, H, W) its mask
    unpaired_target: Tensor | None = None  # (B, 3, H, W) synthetic ground truth of the unpaired try-on
    unpaired_changed_region: Tensor | None = None  # (B, 1, H, W) `regions.unpaired_changed_region`

    def __post_init__(self) -> None:
        size = len(self.names)
        if self.garment_names and len(self.garment_names) != size:
            raise ValueError(f"EvalBatch.garment_names holds {len(self.garment_names)} names, names hold {size}")
        height, width = self.person.shape[-2:]
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, Tensor):
                continue
            if value.shape[0] != size:
                raise ValueError(f"EvalBatch.{field.name} holds {value.shape[0]} samples, names hold {size}")
            if field.name != "keypoints" and tuple(value.shape[-2:]) != (height, width):
                raise ValueError(
                    f"EvalBatch.{field.name} is {tuple(value.shape[-2:])}, the person image {(height, width)}"
                )
        if tuple(self.keypoints.shape[1:]) != (NUM_KEYPOINTS, 3):
            raise ValueError(
                f"EvalBatch.keypoints has shape {tuple(self.keypoints.shape)}, expected (B, 18, 3)"
            )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def paired(self) -> bool:
        """Whether the batch holds paired try-ons (the person's own garment, judged against the photo)."""
        return self.tryon is not None

    @property
    def unpaired(self) -> bool:
        """Whether the batch holds try-ons of another garment than the person's."""
        return self.unpaired_tryon is not None

    def finite_outputs(self) -> Tensor:
        """(B,) bool: whether every output of each sample (try-ons, layout, masks, warped garment) is
        finite; a metric over a sample that is not must not be silently skipped."""
        finite = torch.ones(len(self), dtype=torch.bool, device=self.person.device)
        for name in OUTPUTS:
            value = getattr(self, name)
            if isinstance(value, Tensor) and value.is_floating_point():
                finite &= torch.isfinite(value).flatten(1).all(dim=1)
        return finite

    @property
    def layout_ids(self) -> Tensor | None:
        """The predicted layout as (B, H, W) ids, taking the arg-max of logits."""
        if self.layout is None or self.layout.dim() == 3:
            return self.layout
        return self.layout.argmax(dim=1)

    def to(self, device: torch.device | str) -> EvalBatch:
        """The same batch with every tensor on `device`."""
        moved = {
            field.name: getattr(self, field.name).to(device)
            for field in dataclasses.fields(self)
            if isinstance(getattr(self, field.name), Tensor)
        }
        return dataclasses.replace(self, **moved)
