"""Mixed precision: which autocast dtype a run uses and whether it needs a gradient scaler."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class Precision:
    """A resolved precision: `bf16`, `fp16` (CUDA only, with loss scaling) or `fp32`."""

    name: str
    device_type: str

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of the forward passes (a no-op for fp32)."""
        return torch.autocast(self.device_type, dtype=DTYPES[self.name], enabled=self.name != "fp32")

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16, whose small exponent range underflows gradients; disabled otherwise."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX-512 BF16 or AMX), rather than emulating it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """Turn `auto`, `bf16`, `fp16` or `fp32` into what `device` runs.

    `auto` picks bf16 where the hardware has it (it needs no loss scaling), fp16 on older GPUs and
    fp32 on CPUs without native bf16.
    """
    if requested not in (*DTYPES, "auto"):
        raise ValueError(f"precision {requested!r} is not one of {('auto', *DTYPES)}")
    if device.type == "cuda":
        if requested == "auto":
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif requested == "auto":
        requested = "bf16" if cpu_has_fast_bf16() else "fp32"
    elif requested == "fp16":
        raise ValueError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    return Precision(name=requested, device_type=device.type)
