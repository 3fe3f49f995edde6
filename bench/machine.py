"""The machine line every benchmark table carries: the processor, ATen's kernel level, whether bf16
is native, and the precision actually run.

A number measured on a CPU with native bf16 (AVX-512 BF16 or AMX) can be several times a number
measured on one without, where bf16 is emulated and 4 to 7 times slower than fp32; a table that does
not say which it was cannot be compared with anything. The detection is `tryon.precision`'s, the
same that resolves `auto` for training and inference; this adds what a results table needs besides.

To reproduce an AVX2-only machine on a newer one, set both `ATEN_CPU_CAPABILITY=avx2` (ATen's own
kernels) and `ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's convolutions and matrix products, most of the time):
the first alone leaves the convolutions on AVX-512.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from tryon.precision import MachineDescription, describe_machine


@dataclass(frozen=True)
class Machine:
    """Where a benchmark ran."""

    description: MachineDescription  # processor, kernel level, oneDNN limit, native bf16
    device: str  # cpu, cuda or cuda:N
    cpus: int
    threads: int  # torch threads of the measured runs
    torch: str

    @property
    def capability(self) -> str:
        return self.description.capability

    @property
    def bf16_native(self) -> bool:
        return self.description.bf16_native

    def describe(self, precision: str) -> str:
        """One line for a results table: the machine, and `precision` as the precision run."""
        found = self.description
        limit = f", oneDNN limited to {found.onednn_isa}" if found.onednn_isa else ""
        native = "native" if found.bf16_native else "not native (emulated, slow)"
        threads = f"{self.threads} thread{'s' * (self.threads != 1)}"
        return (
            f"{found.processor}, {self.cpus} CPUs, {threads}, device {self.device}, "
            f"CPU capability {found.capability}{limit}, bf16 {native}, precision run {precision}, "
            f"torch {self.torch}"
        )


def detect(device: str = "cpu", *, threads: int | None = None) -> Machine:
    """Describe this machine as `device` sees it; `threads` is what the measured runs use
    (default: this process's torch threads)."""
    return Machine(
        description=describe_machine(device),
        device=device,
        cpus=os.cpu_count() or 1,
        threads=threads or torch.get_num_threads(),
        torch=torch.__version__,
    )
