"""Numeric precision, the one table for training, inference and the benchmarks.

`resolve_precision` turns a requested name (`auto`, `bf16`, `fp16` or `fp32`) into what a device
runs. `auto` picks bf16 only where the hardware runs it natively: bf16 needs no loss scaling and
halves the time there, but on a CPU without AVX-512 BF16 or AMX it is emulated and 4 to 7 times
slower than fp32. `describe_machine` says what the decision was based on, for results tables.

An AVX2-only machine can be reproduced on a newer one with `ATEN_CPU_CAPABILITY=avx2` (ATen's own
kernels) and `ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's convolutions and matrix products); either one
makes `auto` resolve to fp32, since with either the bf16 kernels are no longer all native.

torch is imported inside the functions: `tryon.config` validates names against `PRECISIONS`, and the
command line's `--help` must not wait for torch.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
"""The precisions a run can resolve to, and the names of their torch dtypes."""

PRECISIONS = ("auto", *DTYPES)
"""The names a configuration or command line may request."""

ONEDNN_ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
ONEDNN_ISAS_WITHOUT_BF16 = (
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
)
"""oneDNN ISA limits below AVX512_CORE_BF16: a process held to one of them has no native bf16."""

X86_MACHINES = ("x86_64", "amd64", "i386", "i686")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    """A resolved precision: `bf16`, `fp16` (CUDA only, with loss scaling) or `fp32` on one device type."""

    name: str
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, DTYPES[self.name])

    @property
    def reduced(self) -> bool:
        """Whether the networks run below float32 (under autocast)."""
        return self.name != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of the forward passes (a no-op for fp32)."""
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.reduced)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16, whose small exponent range underflows gradients; disabled otherwise."""
        import torch

        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def inference_memory_format(
    device: torch.device | str, channels_last: bool | None = None, *, precision: str = "fp32"
) -> torch.memory_format:
    """The layout the inference networks' weights (and so their activations) are kept in on `device`
    for networks run at `precision` (a resolved name, `Precision.name`): channels_last (NHWC) or
    contiguous (NCHW) as `channels_last` says, and where it is None the measured faster one:
    channels_last on CUDA and for fp32 on the CPU, contiguous for bf16 on the CPU.

    The CPU measurements (bench/infer.py `--memory-formats channels_last,contiguous`, interleaved in
    one process, batch 1; bench/RESULTS.md `## Inference layouts` and `## Inference layouts, native
    bf16`): in fp32 on an AVX2 CPU NHWC made the default preset's try-on 1.13x faster at 256x192
    (87% to 99% of the yardstick's GFLOP/s) and 1.16x at 512x384, the `original` preset's 1.01-1.06x;
    oneDNN's NCHW kernels are slowest on the narrow full-resolution layers (16 channels at 256x192,
    up to 4 times slower than NHWC in a one-off timing of that layer alone). With native bf16 NCHW
    was faster (1.07x at batch 1, 1.12x at batch 8), so bf16 keeps it. ATen's NHWC group norm (the
    U-Net's norm at inference, `tryon.nets.unet.InstanceNorm`) is less precise than its NCHW one
    (about 1e-5 against 5e-7 on unit-variance maps); on the main job's trained model (128x96 test
    split) both layouts gave the same layout IoUs and try-on metrics within 0.25% of each other
    (bench/RESULTS.md `## Where the time goes`). On CUDA channels_last is the default, without an
    NCHW measurement here (tensor-core convolutions prefer NHWC in bf16 and fp16).
    """
    import torch

    if channels_last is None:
        channels_last = torch.device(device).type == "cuda" or precision == "fp32"
    return torch.channels_last if channels_last else torch.contiguous_format


def discriminator_memory_format(device: torch.device | str, *, channels_last: bool) -> torch.memory_format:
    """The layout the discriminators train in on `device`: channels_last (NHWC) where the training
    configuration puts every network in it (`channels_last`), and on the CPU in any case.

    Their 4x4 convolutions are faster in NHWC on the CPU, where ATen's NCHW backward computes the
    input's gradient in NHWC and copies it back; the generators' U-Nets stay NCHW there, their
    narrow full-size levels having lost inside the step in NHWC. Interleaved in one process
    (bench/train_layouts.py, bench/RESULTS.md `## Training layouts`), NHWC discriminators made the
    default preset's 256x192 batch-1 sgm step 1.05x faster in fp32 without native bf16 and in bf16
    with it; the other steps measured (the main job's, the fusion stage's, the `original` preset's)
    took 0.97-1.03x, within the host's noise. On CUDA the configuration decides, without a
    measurement here.
    """
    import torch

    if channels_last or torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format


def cpu_capability() -> str:
    """ATen's CPU kernel level (DEFAULT, AVX2, AVX512, ...), lowered by ATEN_CPU_CAPABILITY."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def onednn_bf16_supported() -> bool:
    """Whether oneDNN finds bf16 instructions on this CPU (AVX-512 BF16 or AMX on x86)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def onednn_isa_limit() -> str | None:
    """The ISA limit ONEDNN_MAX_CPU_ISA sets on oneDNN's kernels, or None."""
    return os.environ.get(ONEDNN_ISA_VARIABLE) or None


def cpu_bf16_native() -> bool:
    """Whether this process runs bf16 natively on the CPU rather than emulating it: oneDNN has the
    instructions, and neither ATen's kernel level nor oneDNN's ISA limit holds it below AVX-512."""
    if not onednn_bf16_supported():
        return False
    if platform.machine().lower() in X86_MACHINES and not cpu_capability().upper().startswith("AVX512"):
        return False
    limit = onednn_isa_limit()
    return limit is None or limit.upper() not in ONEDNN_ISAS_WITHOUT_BF16


def resolve_precision(requested: str, device: torch.device | str) -> Precision:
    """Turn `auto`, `bf16`, `fp16` or `fp32` into what `device` runs.

    `auto` is bf16 where it is native (CUDA GPUs that support it, CPUs per `cpu_bf16_native`), fp16 on
    older GPUs, and fp32 on CPUs without native bf16.
    """
    import torch

    device = torch.device(device)
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not one of {PRECISIONS}")
    if device.type == "cuda":
        if requested == "auto":
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    elif requested == "auto":
        requested = "bf16" if cpu_bf16_native() else "fp32"
    elif requested == "fp16":
        raise ValueError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    return Precision(name=requested, device_type=device.type)


@dataclass(frozen=True)
class MachineDescription:
    """What `auto` precision was decided on."""

    processor: str  # CPU model; on CUDA the GPU's name and the host CPU's
    capability: str  # ATen's CPU kernel level: DEFAULT, AVX2, AVX512, ...
    onednn_isa: str | None  # ONEDNN_MAX_CPU_ISA when set
    bf16_native: bool  # on the described device
    auto_precision: str  # what `auto` resolves to there


def cpu_model_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        cpuinfo = CPUINFO.read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine(device: torch.device | str = "cpu") -> MachineDescription:
    """The processor, ATen's kernel level, whether bf16 is native on `device`, and what `auto` gives."""
    import torch

    device = torch.device(device)
    processor = cpu_model_name()
    if device.type == "cuda":
        processor = f"{torch.cuda.get_device_name(device)} (host {processor})"
        bf16_native = torch.cuda.is_bf16_supported()
    else:
        bf16_native = cpu_bf16_native()
    return MachineDescription(
        processor=processor,
        capability=cpu_capability(),
        onednn_isa=onednn_isa_limit(),
        bf16_native=bf16_native,
        auto_precision=resolve_precision("auto", device).name,
    )
