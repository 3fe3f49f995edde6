"""Data-parallel training across processes started by `torchrun`: NCCL on GPUs, gloo on CPUs.

Gradients are averaged once per optimizer step over one flat buffer, as stylegan3's training loop
does, instead of wrapping the networks in `DistributedDataParallel`: the GAN step backpropagates
each discriminator's pass on the generated input twice (into the discriminator's weights, then
through it into the generator's, `tryon.train.phases`), and gradient accumulation would need
`no_sync` around every round, neither of which DDP's per-forward hooks fit. Every rank starts from rank 0's weights and applies the same averaged gradients, so the
weights stay identical without further communication.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn

from tryon.device import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, grids and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistributedContext:
    """Join the process group that `torchrun` describes in the environment (a no-op without it).

    `device` is `cpu`, `cuda` or None for CUDA when available (`tryon.device.resolve_device`, the
    rule every command shares). Under torchrun each process takes the GPU of its LOCAL_RANK.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device, local_rank=local_rank if world_size > 1 else None)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if target.type == "cuda" else "gloo",
            rank=rank,
            world_size=world_size,
            device_id=target if target.type == "cuda" else None,
        )
    return DistributedContext(rank=rank, world_size=world_size, device=target)


def shutdown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.distributed:
        dist.barrier()


def broadcast_module(module: nn.Module, context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers."""
    if context.distributed:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def average_gradients(parameters: list[Tensor], context: DistributedContext) -> None:
    """Replace each gradient by its mean over the ranks, with one all-reduce for all of them."""
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    if not context.distributed or not grads:
        return
    flat = torch.cat([grad.flatten() for grad in grads])
    dist.all_reduce(flat)
    flat /= context.world_size
    for grad, averaged in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
        grad.copy_(averaged.view_as(grad))


def average_tensor(tensor: Tensor, context: DistributedContext) -> Tensor:
    """The mean of `tensor` over the ranks (the tensor itself on one process)."""
    if context.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        tensor /= context.world_size
    return tensor


def broadcast_flag(flag: bool, context: DistributedContext) -> bool:
    """Rank 0's value of `flag` on every rank (a decision such as 'the time budget is spent')."""
    if not context.distributed:
        return flag
    value = torch.tensor([int(flag)], device=context.device)
    dist.broadcast(value, src=0)
    return bool(value.item())
