"""PyTorch dataset over the folder contract: decoded tensors only, no model-side preprocessing.

Everything that depends on the model (pose maps, one-hot layouts, masks derived from labels) is
computed on the device by the model code, so the loader workers only decode files. Every image goes
through the validator's decompression-bomb and decode checks (tryon.data.images), and pose files in
COCO-18 or BODY_25 are read as COCO-18 (tryon.data.pose). A person may appear in any number of
pairs, each with another garment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tryon.config import DataConfig, Resolution
from tryon.data.layout import (
    DatasetLayout,
    Pair,
    read_label,
    read_mask,
    read_pairs,
    read_pose,
    read_rgb,
    read_unpaired,
)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB to a (3, H, W) float tensor in [-1, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [-1, 1] to (H, W, 3) uint8 RGB."""
    scaled = tensor.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@dataclass(frozen=True)
class TryOnBatch:
    """A batch of pairs as tensors; the leading dimension is the batch.

    `unpaired_*` are present only on synthetic data that ships the person wearing another garment.
    """

    names: tuple[str, ...]  # person image names; a person in several pairs appears several times
    image: torch.Tensor  # (B, 3, H, W) person, [-1, 1]
    label: torch.Tensor  # (B, H, W) int64 ACGPN ids
    keypoints: torch.Tensor  # (B, 18, 3) pixels and confidence
    garment: torch.Tensor  # (B, 3, H, W) laydown garment, [-1, 1]
    garment_mask: torch.Tensor  # (B, 1, H, W) {0, 1}
    unpaired_garment: torch.Tensor | None = None
    unpaired_garment_mask: torch.Tensor | None = None
    unpaired_target: torch.Tensor | None = None
    garment_names: tuple[str, ...] = ()  # the garment of each pair; with `names`, unique per pair

    def to(self, device: torch.device | str, *, non_blocking: bool = True) -> TryOnBatch:
        """Move every tensor to `device` (non-blocking from pinned memory)."""
        return dataclasses.replace(
            self,
            **{
                field.name: value.to(device, non_blocking=non_blocking)
                for field in dataclasses.fields(self)
                if isinstance(value := getattr(self, field.name), torch.Tensor)
            },
        )

    def pin_memory(self) -> TryOnBatch:
        """Called by DataLoader(pin_memory=True) on custom batch types."""
        return dataclasses.replace(
            self,
            **{
                field.name: value.pin_memory()
                for field in dataclasses.fields(self)
                if isinstance(value := getattr(self, field.name), torch.Tensor)
            },
        )

    def __len__(self) -> int:
        return len(self.names)


NAME_KEYS = ("name", "garment_name")


def collate(samples: list[dict]) -> TryOnBatch:
    """Stack per-sample dicts from TryOnDataset into a TryOnBatch."""
    stacked = {
        key: torch.stack([sample[key] for sample in samples])
        for key in samples[0]
        if key not in NAME_KEYS and samples[0][key] is not None
    }
    return TryOnBatch(
        names=tuple(sample["name"] for sample in samples),
        garment_names=tuple(sample["garment_name"] for sample in samples),
        **stacked,
    )


class TryOnDataset(Dataset):
    """Pairs of one phase of a dataset root, decoded to tensors at the configured resolution."""

    def __init__(
        self,
        root: Path,
        *,
        phase: str,
        resolution: Resolution,
        with_unpaired: bool = False,
        pairs: list[Pair] | None = None,
        max_image_pixels: int = DataConfig.max_image_pixels,
    ) -> None:
        """`pairs` overrides the phase's own pairing (its pairs file or sorted order); images with
        more than `max_image_pixels` pixels are refused undecoded (UnusableImage names the file)."""
        self.layout = DatasetLayout(Path(root), phase)
        self.resolution = resolution
        self.max_image_pixels = max_image_pixels
        self.pairs: list[Pair] = read_pairs(self.layout) if pairs is None else list(pairs)
        self.unpaired: dict[str, str] = {}
        if with_unpaired:
            self.unpaired = {pair.person: pair.garment for pair in read_unpaired(self.layout)}
            missing = [pair.person for pair in self.pairs if pair.person not in self.unpaired]
            if missing:
                raise ValueError(
                    f"{self.layout.unpaired_file}: no unpaired ground truth for {len(missing)} persons "
                    f"(first: {missing[0]}); unpaired evaluation needs it for every pair"
                )

    def __len__(self) -> int:
        return len(self.pairs)

    def _checked(self, array: np.ndarray, path: Path) -> np.ndarray:
        if array.shape[:2] != self.resolution.shape:
            raise ValueError(
                f"{path}: size {array.shape[0]}x{array.shape[1]} differs from the configured {self.resolution}; "
                "run `tryon data validate` on the dataset"
            )
        return array

    def _rgb(self, path: Path) -> torch.Tensor:
        return image_to_tensor(self._checked(read_rgb(path, max_image_pixels=self.max_image_pixels), path))

    def _garment(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.layout.garment_mask(name)
        mask = self._checked(read_mask(path, max_image_pixels=self.max_image_pixels), path)
        return self._rgb(self.layout.garment(name)), torch.from_numpy(mask).float()[None]

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        layout = self.layout
        garment, garment_mask = self._garment(pair.garment)
        label_path = layout.label(pair.person)
        label = self._checked(read_label(label_path, max_image_pixels=self.max_image_pixels), label_path)
        sample = {
            "name": pair.person,
            "garment_name": pair.garment,
            "image": self._rgb(layout.person_image(pair.person)),
            "label": torch.from_numpy(label.astype(np.int64)),
            "keypoints": torch.from_numpy(read_pose(layout.pose(pair.person))),
            "garment": garment,
            "garment_mask": garment_mask,
        }
        other = self.unpaired.get(pair.person)
        if other is not None:
            sample["unpaired_garment"], sample["unpaired_garment_mask"] = self._garment(other)
            sample["unpaired_target"] = self._rgb(layout.unpaired_gt(pair.person))
        return sample
