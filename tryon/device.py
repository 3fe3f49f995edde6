"""Which device a command runs its networks on: one rule for training, evaluation and inference."""

from __future__ import annotations

import torch


class DeviceUnavailable(ValueError):
    """A device was asked for that this machine does not have, or its name is not a device."""


def resolve_device(
    requested: str | torch.device | None = None, *, local_rank: int | None = None
) -> torch.device:
    """The device to run on: `requested` (`cpu`, `cuda`, `cuda:N`), or CUDA when available and the
    CPU otherwise when it is None.

    Under torchrun, `local_rank` picks each process's GPU, whatever index the request names.
    Raises DeviceUnavailable, naming the request, for an unknown name or for CUDA on a machine
    without it, instead of failing later inside the first forward pass.
    """
    if requested is None:
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as error:
        raise DeviceUnavailable(
            f"--device {requested!r} is not a device name; use cpu, cuda or cuda:N"
        ) from error
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceUnavailable(f"--device {requested!r}: only cpu and cuda devices are supported")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"--device {requested!r} was asked for but CUDA is not available on this machine; "
            "use --device cpu"
        )
    index = local_rank if local_rank is not None else (device.index or 0)
    if index >= torch.cuda.device_count():
        raise DeviceUnavailable(
            f"--device {requested!r}: GPU {index} does not exist; "
            f"this machine has {torch.cuda.device_count()}"
        )
    return torch.device("cuda", index)
