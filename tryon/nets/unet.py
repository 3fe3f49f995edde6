"""The U-Net that every ACGPN generator is built on (G1, G2, the warp refinement and G3).

The layout follows ACGPN's `Refine` network: per level two 3x3 conv-norm-ReLU layers, 2x2 max
pooling on the way down, nearest upsampling and a conv halving the channels on the way up, the
skip concatenated before the level's two convs, and a final 3x3 conv to the outputs. ACGPN's
dropout on the two deepest levels is left out (our generators take a noise channel instead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def channels_last(x: Tensor) -> bool:
    """Whether `x` is laid out NHWC (and not also NCHW, as a one-channel or one-pixel map is)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _instance_norm_nhwc(x: Tensor, eps: float) -> Tensor:
    # Each sample as a training-mode batch norm of a batch of one: per channel over that sample's
    # pixels, the instance norm's statistics, computed by ATen's NHWC batch norm kernels in place.
    # `F.instance_norm` would copy the batch to NCHW and back, and ATen's NHWC group norm is slower
    # still (one-off timings in bench/RESULTS.md, `## Where the time goes`).
    samples = [F.batch_norm(sample, None, None, training=True, eps=eps) for sample in x.split(1)]
    return samples[0] if len(samples) == 1 else torch.cat(samples)


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm without affine parameters or running statistics (`nn.InstanceNorm2d`'s defaults).

    Without a gradient, and with one for a contiguous (NCHW) batch on the CPU, it runs as a group
    norm with one group per channel: the same statistics, which ATen's group norm computes in one
    pass per channel. Instance norm instead goes through batch norm over a reshaped copy of the
    batch. In one-off timings on an AVX2 CPU (fp32, 16 to 128 channels, 256x192 to 16x12, with
    ReLU), group norm was 2 to 2.6 times faster forward and backward, and 1.5 to 6 times faster
    forward alone; bench/RESULTS.md's `## Profile` shows the training step's share. An NHWC batch on
    the CPU trains as a batch norm per sample (`_instance_norm_nhwc`), without leaving NHWC. Training
    on CUDA keeps the instance norm itself: CUDA autocast runs group norm in fp32, which would
    store fp32 activations where bf16 training counts on half that memory. ATen's NHWC group norm,
    used without a gradient, is less precise (`tryon.precision.inference_memory_format`).
    """

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            if x.device.type != "cpu":
                return super().forward(x)
            if channels_last(x):
                return _instance_norm_nhwc(x, self.eps)
        return F.group_norm(x, x.shape[1], eps=self.eps)


def conv_norm_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """A 3x3 convolution, instance norm (statistics per sample, so batch 1 trains) and ReLU.

    The convolution has no bias: the norm subtracts each channel's mean, a bias with it.
    """
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        InstanceNorm(out_channels),
        nn.ReLU(inplace=True),
    ]


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        *conv_norm_relu(in_channels, out_channels), *conv_norm_relu(out_channels, out_channels)
    )


def _fold_taps(weight: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """A 3x3 kernel's three taps along `dim`, folded to the two input rows (or columns) that the even
    and the odd outputs of a nearest 2x upsampling read: output 2i reads input i-1 (tap 0) and i
    (taps 1 and 2), output 2i+1 reads input i (taps 0 and 1) and i+1 (tap 2)."""
    before, centre, after = weight.unbind(dim)
    even = torch.stack([before, centre + after], dim)
    odd = torch.stack([before + centre, after], dim)
    return even, odd


def upsample_conv3x3(x: Tensor, weight: Tensor) -> Tensor:
    """Nearest 2x upsampling, then a 3x3 convolution (padding 1, no bias), computed at the input's size.

    Each of the four output parities (even/odd row, even/odd column) is a 2x2 convolution of the
    input with the kernel's taps folded (`_fold_taps`), so the four run as one convolution to four
    times the channels and are interleaved: the same result with 16 instead of 36 multiply-adds per
    input pixel and channel pair, and no upsampled copy of the input. Keeps the input's memory
    format.
    """
    rows_even, rows_odd = _fold_taps(weight, 2)
    kernels = [half for rows in (rows_even, rows_odd) for half in _fold_taps(rows, 3)]
    out_channels, height, width = weight.shape[0], x.shape[-2], x.shape[-1]
    # Channels [(2a + b) C, (2a + b + 1) C) are the outputs at row parity a and column parity b,
    # contiguous in either layout. With padding 1 the 2x2 window at (i + a, j + b) covers the input
    # rows and columns that parity reads.
    phases = F.conv2d(x, torch.cat(kernels), padding=1)
    nhwc = channels_last(x)
    rows = []
    for a in (0, 1):
        parts = [
            phases[:, (2 * a + b) * out_channels : (2 * a + b + 1) * out_channels, a : a + height, b : b + width]
            for b in (0, 1)
        ]
        if nhwc:
            rows.append(torch.stack([part.permute(0, 2, 3, 1) for part in parts], dim=3))  # (B, h, w, 2, C)
        else:
            rows.append(torch.stack(parts, dim=-1))  # (B, C, h, w, 2)
    batch = x.shape[0]
    if nhwc:
        upsampled = torch.stack(rows, dim=2).reshape(batch, 2 * height, 2 * width, out_channels)
        return upsampled.permute(0, 3, 1, 2)
    return torch.stack(rows, dim=3).reshape(batch, out_channels, 2 * height, 2 * width)


def _transposed_taps(weight: Tensor, dim: int) -> Tensor:
    """A 3x3 kernel's taps along `dim` as the four of a stride-2 transposed convolution with padding
    1: output 2i takes input i through tap 1 and input i-1 through tap 3, output 2i+1 takes input i
    through tap 2 and input i+1 through tap 0, so each tap is one of `_fold_taps`'s sums."""
    even, odd = _fold_taps(weight, dim)
    (before, centre_and_after), (before_and_centre, after) = even.unbind(dim), odd.unbind(dim)
    return torch.stack([after, centre_and_after, before_and_centre, before], dim)


def upsample_conv3x3_transposed(x: Tensor, weight: Tensor) -> Tensor:
    """`upsample_conv3x3` as one transposed convolution (stride 2, padding 1, a 4x4 kernel of the
    folded taps): the same 16 multiply-adds per input pixel and channel pair, with no interleave.
    Keeps the input's memory format."""
    kernel = _transposed_taps(_transposed_taps(weight, 2), 3).transpose(0, 1)  # (in, out, 4, 4)
    layout = torch.channels_last if channels_last(x) else torch.contiguous_format
    return F.conv_transpose2d(x, kernel.contiguous(memory_format=layout), stride=2, padding=1)


TRANSPOSED_MIN_PIXELS = 32 * 24
"""The smallest input map on which a try-on upsamples through the transposed convolution. Timed
alone without a gradient (one-off, AVX2 fp32 NHWC and native bf16 NCHW, 16 to 1024 channels), it
was 1.5-2.2x faster than the plain upsampling from 32x24 maps up, and 1.1-12x slower on 16x12 and
8x6 maps, where building its kernel and oneDNN's transposed convolution on a few pixels cost more
than the multiply-adds it saves."""


class UpLevel(nn.Module):
    """One decoder level: upsample to the skip's size, halve the channels, concatenate, two convs."""

    def __init__(self, in_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(*conv_norm_relu(in_channels, skip_channels))
        self.fuse = double_conv(2 * skip_channels, skip_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        conv, norm_relu = self.reduce[0], self.reduce[1:]
        doubles = skip.shape[-2:] == (2 * x.shape[-2], 2 * x.shape[-1])
        if doubles and torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad):
            # Training steps ran 1.04-1.10x faster with the folded convolution than with the plain
            # upsampling, and slower with the transposed one (bench/RESULTS.md, `## Where the time
            # goes`).
            x = norm_relu(upsample_conv3x3(x, conv.weight))
        elif doubles and x.shape[-2] * x.shape[-1] >= TRANSPOSED_MIN_PIXELS:
            # Try-ons ran 1.05-1.12x faster than with the plain upsampling throughout (same
            # section), with the same metrics on a trained model.
            x = norm_relu(upsample_conv3x3_transposed(x, conv.weight))
        else:
            # Upsampling to the skip's exact size (not a fixed 2x) lets odd level sizes through,
            # e.g. 1024x768 at depth 5 or 64x48 at depth 6, where a pooled side was rounded down.
            x = self.reduce(F.interpolate(x, size=skip.shape[-2:], mode="nearest"))
        return self.fuse(torch.cat([skip, x], dim=1))


def halve_by_max(x: Tensor) -> Tensor:
    """2x2 max pooling (stride 2, odd sides rounded down). Without a gradient, the max of the four
    strided quarters: CPU max pooling also computes the indices of its maxima, for a backward pass
    that inference never takes, and takes several times longer. With one, max pooling and its
    backward, as training has always run."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.max_pool2d(x, kernel_size=2)
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    rows = torch.maximum(x[..., 0:height:2, :width], x[..., 1:height:2, :width])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class UNet(nn.Module):
    """A U-Net from `in_channels` to `out_channels` (raw outputs: no final activation).

    Level i has min(base_width * 2**i, max_width) channels; there are `depth` levels, so each side
    of the input must be at least 2**depth pixels for the deepest instance norm to see more than one
    pixel. With `checkpointing`, each level's activations are recomputed in the backward pass
    instead of stored, which is what lets 1024x768 training fit one GPU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        base_width: int,
        depth: int,
        max_width: int,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        widths = [min(base_width * 2**level, max_width) for level in range(depth)]
        self.checkpointing = checkpointing
        self.down = nn.ModuleList(
            double_conv(previous, width)
            for previous, width in zip([in_channels, *widths[:-1]], widths, strict=True)
        )
        self.up = nn.ModuleList(
            UpLevel(deeper, width) for deeper, width in zip(widths[:0:-1], widths[-2::-1], strict=True)
        )
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=3, padding=1)

    def _run(self, level: nn.Module, *inputs: Tensor) -> Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(level, *inputs, use_reentrant=False)
        return level(*inputs)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for index, level in enumerate(self.down):
            if index:
                x = halve_by_max(x)
            x = self._run(level, x)
            skips.append(x)
        for level, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = self._run(level, x, skip)
        return self.head(x)
