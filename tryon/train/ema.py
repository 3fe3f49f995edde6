"""Exponential moving average of the generator weights: what evaluation and export use."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay(step: int, *, decay: float, warmup: int) -> float:
    """The decay at optimizer step `step`: min(decay, (1 + step) / (warmup + step)).

    The warm-up keeps the average from being dominated by the random initial weights in the first
    steps (the average follows the weights closely at first, then ever more slowly).
    """
    if warmup <= 0:
        return decay
    return min(decay, (1 + step) / (warmup + step))


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, *, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, for the parameters that are training.

    Frozen parameters are left alone: freezing copies the average into the model (see
    `tryon.train.loop`), so both already agree. Runs as a few fused device kernels.
    """
    pairs = [
        (kept, current)
        for kept, current in zip(average.parameters(), model.parameters(), strict=True)
        if current.requires_grad
    ]
    if pairs:
        kept, current = zip(*pairs, strict=True)
        torch._foreach_lerp_(list(kept), list(current), 1.0 - decay)


@torch.no_grad()
def copy_weights(target: nn.Module, source: nn.Module) -> None:
    """Copy `source`'s parameters and buffers into `target` (same architecture)."""
    for kept, current in zip(target.state_dict().values(), source.state_dict().values(), strict=True):
        kept.copy_(current)
