"""Multi-scale conditional PatchGAN discriminator (pix2pixHD's, as ACGPN uses it) with feature outputs.

A conditional PatchGAN sees cat[condition, image], and each training step shows it the same
condition twice: with the real image and with the generated one. Its first convolution over the
concatenation is the sum of a convolution over the condition and one over the image (the same
zero padding, the weight split along its input channels), and the 2x downsampling between scales
is per channel. So the condition's part, the larger one (36 of D1's 50 input channels, 36 of D2's
37), is computed once per step (`MultiScaleDiscriminator.encode_condition`) and reused for both
images; only the image's part is convolved per pass, and only it carries a gradient back to the
generator. The weights are those of the convolution over the concatenation, so checkpoints are
unchanged.

A discriminator runs in its weights' memory format: the trainer chooses it
(`tryon.precision.discriminator_memory_format`), and the images and conditions, which come from the
generators in theirs, are converted once on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as with_spectral_norm

from tryon.nets.unet import InstanceNorm, channels_last

KERNEL = 4
PADDING = 2  # pix2pixHD's ceil((KERNEL - 1) / 2): patch logits slightly larger than size / 2**layers
LEAK = 0.2
MAX_WIDTH_FACTOR = 8  # channels stop doubling at 8x the first layer's (512 for width 64, as pix2pixHD)


def downsample(x: Tensor) -> Tensor:
    """pix2pixHD's 2x downsampling between scales: 3x3 average, stride 2, padding left out of the mean."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


@dataclass(frozen=True)
class EncodedCondition:
    """Per scale (full size first), the first convolution's response to the condition, bias included."""

    responses: tuple[Tensor, ...]


class PatchDiscriminator(nn.Module):
    """One scale: `layers` stride-2 convs, a stride-1 conv, and a conv to one logit per patch.

    Returns every block's output, so the generator's feature-matching loss can compare them; the
    last is the (B, 1, h, w) patch logits.
    """

    def __init__(
        self, condition_channels: int, image_channels: int, *, width: int, layers: int, spectral_norm: bool
    ) -> None:
        super().__init__()
        if condition_channels < 1 or image_channels < 1:
            raise ValueError(
                f"a conditional discriminator needs condition and image channels, got "
                f"{condition_channels} and {image_channels}"
            )
        self.condition_channels = condition_channels
        widths = [min(width * 2**layer, width * MAX_WIDTH_FACTOR) for layer in range(layers + 1)]
        strides = [2] * layers + [1]

        def conv(in_c: int, out_c: int, stride: int, *, bias: bool = True) -> nn.Module:
            layer = nn.Conv2d(in_c, out_c, kernel_size=KERNEL, stride=stride, padding=PADDING, bias=bias)
            return with_spectral_norm(layer) if spectral_norm else layer

        blocks = []
        for index, (previous, current, stride) in enumerate(
            zip([condition_channels + image_channels, *widths[:-1]], widths, strides, strict=True)
        ):
            # No norm on the first block, as in pix2pixHD: it would erase the input's statistics.
            norm = [InstanceNorm(current)] if index else []
            blocks.append(
                # A bias right before instance norm is subtracted again with the mean: none there.
                nn.Sequential(conv(previous, current, stride, bias=not norm), *norm, nn.LeakyReLU(LEAK, inplace=True))
            )
        blocks.append(nn.Sequential(conv(widths[-1], 1, 1)))
        self.blocks = nn.ModuleList(blocks)

    @property
    def _first(self) -> nn.Conv2d:
        return self.blocks[0][0]

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of the first convolution's weight, which the trainer sets for every layer."""
        first = self._first
        # Under spectral norm `weight` would run a power iteration: read the stored original.
        weight = (
            first.parametrizations.weight.original if parametrize.is_parametrized(first) else first.weight
        )
        return torch.channels_last if channels_last(weight) else torch.contiguous_format

    def encode_condition(self, condition: Tensor) -> Tensor:
        """The first convolution's response to `condition` alone, its bias included."""
        first = self._first
        weight = first.weight[:, : self.condition_channels]
        return F.conv2d(condition, weight, first.bias, stride=first.stride, padding=first.padding)

    def forward(self, image: Tensor, condition: Tensor) -> list[Tensor]:
        """Block outputs for cat[condition, image], given `condition` as `encode_condition`'s response."""
        first = self._first
        weight = first.weight[:, self.condition_channels :]
        x = self.blocks[0][1:](condition + F.conv2d(image, weight, stride=first.stride, padding=first.padding))
        features = [x]
        for block in self.blocks[1:]:
            x = block(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    """`scales` PatchGANs, the first on the full-size input and each next on a 2x smaller copy.

    `forward(image, encode_condition(condition))` returns one list per scale (full size first) of
    that scale's block outputs, the last of each being the patch logits: the discriminator's verdict
    on cat[condition, image]. Encode a condition once for every image it is compared with.
    """

    def __init__(
        self,
        condition_channels: int,
        image_channels: int,
        *,
        width: int,
        layers: int,
        scales: int,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            PatchDiscriminator(
                condition_channels, image_channels, width=width, layers=layers, spectral_norm=spectral_norm
            )
            for _ in range(scales)
        )

    def _in_own_layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=self.scales[0].memory_format)

    def encode_condition(self, condition: Tensor) -> EncodedCondition:
        """Every scale's first-layer response to `condition`, for any number of `forward` calls."""
        condition = self._in_own_layout(condition)
        responses = []
        for index, discriminator in enumerate(self.scales):
            if index:
                condition = downsample(condition)
            responses.append(discriminator.encode_condition(condition))
        return EncodedCondition(tuple(responses))

    def forward(self, image: Tensor, condition: EncodedCondition) -> list[list[Tensor]]:
        image = self._in_own_layout(image)
        outputs = []
        for index, (discriminator, response) in enumerate(zip(self.scales, condition.responses, strict=True)):
            if index:
                image = downsample(image)
            outputs.append(discriminator(image, response))
        return outputs
