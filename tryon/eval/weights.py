"""Pretrained networks that some metrics need, loaded only from local files.

FID and KID use the Inception-v3 of the original TensorFlow FID code as the TorchScript file
`inception-2015-12-05.pt` that stylegan2-ada-pytorch publishes: it loads with `torch.jit.load`
alone. torchmetrics' built-in Inception would need torch-fidelity, which imports torchvision,
which this project does not install; torchmetrics accepts any feature module instead, which is
how this file's network is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

INCEPTION_FILE = "inception-2015-12-05.pt"


class MetricUnavailable(Exception):
    """A metric that cannot run here; the message is the report's note ("not computed: ...")."""


@dataclass(frozen=True)
class EvalWeights:
    """Where the metric networks' weights live. Nothing is ever downloaded."""

    inception: Path = Path("weights") / INCEPTION_FILE  # TorchScript Inception-v3 for FID/KID


class InceptionFeatures(nn.Module):
    """2048-d pool features of [-1, 1] images, from the TorchScript FID Inception.

    The network takes uint8 RGB of any size (it resizes to 299 x 299 inside) and answers
    `net(images, return_features=True)` with (N, 2048) features.
    """

    def __init__(self, network: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.network = network

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.network(pixels, return_features=True).float()


def load_inception(path: Path, device: torch.device | str) -> InceptionFeatures:
    """Load the FID Inception from `path`; raises MetricUnavailable saying why it could not."""
    path = Path(path)
    if not path.is_file():
        raise MetricUnavailable(f"not computed: weights not found at {path}")
    try:
        with warnings.catch_warnings():
            # torch deprecates TorchScript, but this network is published only in that format.
            warnings.filterwarnings(
                "ignore", message=".*torch.jit.load. is deprecated", category=DeprecationWarning
            )
            network = torch.jit.load(str(path), map_location=device)
    except RuntimeError as error:
        raise MetricUnavailable(
            f"not available: {path} is not a TorchScript module ({str(error).splitlines()[0]}); "
            f"expected {INCEPTION_FILE} as published with stylegan2-ada-pytorch"
        ) from error
    return InceptionFeatures(network.eval()).to(device)
