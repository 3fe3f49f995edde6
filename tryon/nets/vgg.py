"""VGG19 features for the perceptual loss, loaded from a local torchvision-format weights file."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from tryon.nets.unet import halve_by_max

# torchvision's vgg19 `features` up to relu5_1: channels per conv, "M" for a 2x2 max pool.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
TAPS = (1, 6, 11, 20, 29)
"""Indices in `features` of relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 (pix2pixHD's slices)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"


class MaxPool2x2(nn.Module):
    """torchvision's `MaxPool2d(2, 2)` as `halve_by_max`: the same outputs and gradients. The
    perceptual loss runs VGG19 on its targets without a gradient, where ATen's CPU max pooling still
    computes the index of every maximum: in one-off profiles of the default warp and fusion steps
    (256x192, batch 1, AVX2 fp32), that pass's four pools took 5.3 and 7.6 ms a step, and 0.9 and
    0.8 ms as the maxima of the strided quarters."""

    def forward(self, x: Tensor) -> Tensor:
        return halve_by_max(x)


def vgg_layers(in_channels: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    for entry in LAYOUT:
        if entry == "M":
            layers.append(MaxPool2x2())
        else:
            layers += [nn.Conv2d(in_channels, entry, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = entry
    return nn.Sequential(*layers)


class VGG19Features(nn.Module):
    """Frozen VGG19 returning [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1] for [-1, 1] images.

    Holds torchvision's `features.0` .. `features.29` under the same names, so a torchvision
    state dict's `features.N.weight` / `features.N.bias` load directly (see `load_vgg19`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg_layers()
        # Not persistent: the state dict stays exactly torchvision's.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, -1, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: Tensor) -> list[Tensor]:
        """(B, 3, H, W) in [-1, 1] to the five activations, shallowest first."""
        x = ((image + 1) / 2 - self.mean) / self.std
        activations = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                activations.append(x)
        return activations


def load_vgg19(path: Path | None) -> VGG19Features:
    """VGG19Features with torchvision's ImageNet weights read from `path`; nothing is downloaded.

    Raises FileNotFoundError when `path` is None or missing, ValueError when the file does not hold
    torchvision's vgg19 `features` weights.
    """
    how = (
        f"nothing is downloaded: put torchvision's ImageNet VGG19 weights ({TORCHVISION_FILE}, from "
        f"https://download.pytorch.org/models/{TORCHVISION_FILE}) at that path"
    )
    if path is None:
        raise FileNotFoundError(f"no VGG19 weights path is configured for the perceptual loss; {how}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG19 weights file {path} does not exist; {how}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"VGG19 weights file {path} is not a readable state dict: {error}; {how}") from error
    if not isinstance(state, dict):
        # A ValueError like every other bad file: the caller's argument was a path, not this object.
        raise ValueError(  # noqa: TRY004
            f"VGG19 weights file {path} holds a {type(state).__name__}, not a state dict; {how}"
        )
    model = VGG19Features()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(
            f"VGG19 weights file {path} lacks {len(missing)} tensors of torchvision's vgg19 "
            f"(first: {missing[0]}); {how}"
        )
    wrong = [name for name in expected if tuple(state[name].shape) != tuple(expected[name].shape)]
    if wrong:
        raise ValueError(
            f"VGG19 weights file {path}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, "
            f"expected {tuple(expected[wrong[0]].shape)}; {how}"
        )
    model.load_state_dict({name: state[name] for name in expected})
    return model
