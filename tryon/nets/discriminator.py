"""Multi-scale PatchGAN discriminator (pix2pixHD's, as ACGPN uses it) with feature outputs."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as with_spectral_norm

from tryon.nets.unet import InstanceNorm

KERNEL = 4
PADDING = 2  # pix2pixHD's ceil((KERNEL - 1) / 2): patch logits slightly larger than size / 2**layers
LEAK = 0.2
MAX_WIDTH_FACTOR = 8  # channels stop doubling at 8x the first layer's (512 for width 64, as pix2pixHD)


class PatchDiscriminator(nn.Module):
    """One scale: `layers` stride-2 convs, a stride-1 conv, and a conv to one logit per patch.

    Returns every block's output, so the generator's feature-matching loss can compare them; the
    last is the (B, 1, h, w) patch logits.
    """

    def __init__(self, in_channels: int, *, width: int, layers: int, spectral_norm: bool) -> None:
        super().__init__()
        widths = [min(width * 2**layer, width * MAX_WIDTH_FACTOR) for layer in range(layers + 1)]
        strides = [2] * layers + [1]

        def conv(in_c: int, out_c: int, stride: int, *, bias: bool = True) -> nn.Module:
            layer = nn.Conv2d(in_c, out_c, kernel_size=KERNEL, stride=stride, padding=PADDING, bias=bias)
            return with_spectral_norm(layer) if spectral_norm else layer

        blocks = []
        for index, (previous, current, stride) in enumerate(
            zip([in_channels, *widths[:-1]], widths, strides, strict=True)
        ):
            # No norm on the first block, as in pix2pixHD: it would erase the input's statistics.
            norm = [InstanceNorm(current)] if index else []
            blocks.append(
                # A bias right before instance norm is subtracted again with the mean: none there.
                nn.Sequential(conv(previous, current, stride, bias=not norm), *norm, nn.LeakyReLU(LEAK, inplace=True))
            )
        blocks.append(nn.Sequential(conv(widths[-1], 1, 1)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    """`scales` PatchGANs, the first on the full-size input and each next on a 2x smaller copy.

    `forward` returns one list per scale (full size first) of that scale's block outputs, the last
    of each being the patch logits.
    """

    def __init__(
        self, in_channels: int, *, width: int, layers: int, scales: int, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels, width=width, layers=layers, spectral_norm=spectral_norm)
            for _ in range(scales)
        )

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        outputs = []
        for index, discriminator in enumerate(self.scales):
            if index:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
