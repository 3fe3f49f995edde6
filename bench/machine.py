"""The machine line every benchmark table carries: the processor, ATen's kernel level, whether bf16
is native, and the precision actually run.

A number measured on a CPU with native bf16 (AVX-512 BF16 or AMX) can be several times a number
measured on one without, where bf16 is emulated and 4 to 7 times slower than fp32; a table that does
not say which it was cannot be compared with anything. The detection is `tryon.precision`'s, the
same that resolves `auto` for training and inference; this adds what a results table needs besides.

To reproduce an AVX2-only machine on a newer one, set both `ATEN_CPU_CAPABILITY=avx2` (ATen's own
kernels) and `ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's convolutions and matrix products, most of the time):
the first alone leaves the convolutions on AVX-512.

The unit: seconds alone cannot be compared across machines, so every benchmark also times the
shared yardstick (`../shared/bench/yardstick.py`, a fixed fp32 convolution workload) in the same run
and reports its figures in units of it: a step that takes 40 units takes 40 yardsticks on any CPU,
and a module's GFLOP/s over the yardstick's says how close it runs to what the convolutions reach.

The yardstick runs with the C library's malloc as it comes, while tryon's CPU trainer and try-on
pipeline keep freed memory in the heap (`tryon.allocator`), which makes convolutions that allocate
their outputs on every pass faster, the yardstick's own included. So each run also times the
yardstick with tryon's allocator: a rate against that one compares like with like.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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


YARDSTICK_ENV = "TRYON_YARDSTICK"
"""Environment variable naming the yardstick script when it is not at ../shared/bench/yardstick.py."""

UNIT_GFLOP = 3 * 4 * (2 * 64 * 64 * 3 * 3) * 256 * 192 / 1e9
"""The yardstick's work: four 64-to-64 3x3 convolutions at 256x192, batch 1, each run forward, for the
input gradient and for the weight gradient (three convolutions' worth); about 43.5 GFLOP."""


def yardstick_path() -> Path:
    """The yardstick script: $TRYON_YARDSTICK, else ../shared/bench/yardstick.py beside the repository."""
    configured = os.environ.get(YARDSTICK_ENV)
    beside_repository = Path(__file__).resolve().parents[2] / "shared" / "bench" / "yardstick.py"
    path = Path(configured) if configured else beside_repository
    if not path.is_file():
        raise FileNotFoundError(
            f"the yardstick {path} is missing: benchmark figures are reported in its units; "
            f"set {YARDSTICK_ENV} to the path of yardstick.py"
        )
    return path


@dataclass(frozen=True)
class Unit:
    """The yardstick's time measured in this run: before the benchmark and after it, or after each
    of its configurations."""

    seconds: float  # median of the measurements
    measurements: tuple[float, ...]  # each one the yardstick's own median
    same_allocator: tuple[float, ...] = ()  # the yardstick run with tryon's allocator, as the measured code

    def units(self, seconds: float) -> float:
        """`seconds` on this machine expressed in yardsticks."""
        return seconds / self.seconds

    @property
    def gflop_per_s(self) -> float:
        return UNIT_GFLOP / self.seconds

    def efficiency(self, *, flop: float, seconds: float) -> float:
        """Achieved FLOP/s of `flop` in `seconds` as a fraction of the yardstick's."""
        return flop / seconds / 1e9 / self.gflop_per_s

    def same_allocator_efficiency(self, *, flop: float, seconds: float) -> float | None:
        """Achieved FLOP/s of `flop` in `seconds` as a fraction of the yardstick's with tryon's
        allocator (None when it was not timed)."""
        if not self.same_allocator:
            return None
        return flop / seconds / 1e9 / (UNIT_GFLOP / statistics.median(self.same_allocator))

    def describe(self) -> str:
        spread = ", ".join(f"{value:.3f}" for value in self.measurements)
        line = f"1 unit = {self.seconds:.3f} s, {self.gflop_per_s:.0f} GFLOP/s (measured {spread} s here)"
        if self.same_allocator:
            same = statistics.median(self.same_allocator)
            spread = ", ".join(f"{value:.3f}" for value in self.same_allocator)
            line += (
                f"; the yardstick with tryon's allocator {same:.3f} s, {UNIT_GFLOP / same:.0f} GFLOP/s "
                f"({spread} s)"
            )
        return line


WITH_TRYON_ALLOCATOR = (
    "import runpy, sys; from tryon.allocator import retain_freed_memory; retain_freed_memory(); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
"""Runs a script (argv[1], its arguments after it) with the allocator that tryon's CPU trainer and
try-on pipeline set up, in this environment ($TRYON_ALLOCATOR included)."""


def time_yardstick(*, repeats: int = 7, tryon_allocator: bool = False) -> float:
    """The yardstick's median seconds, run in a fresh process with this process's environment; with
    `tryon_allocator`, with the C library's malloc set up as tryon's measured code has it."""
    script = [str(yardstick_path()), str(repeats)]
    wrapper = ["-c", WITH_TRYON_ALLOCATOR] if tryon_allocator else []
    completed = subprocess.run(
        [sys.executable, *wrapper, *script], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the yardstick failed:\n{completed.stderr[-2000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def unit_from(measurements: list[float], *, same_allocator: list[float] = ()) -> Unit:
    """The unit of a run from its yardstick measurements (typically one before and one after), and
    those with tryon's allocator when they were taken."""
    return Unit(
        seconds=statistics.median(measurements),
        measurements=tuple(measurements),
        same_allocator=tuple(same_allocator),
    )


def percent(value: float | None) -> str:
    """A table cell for a fraction, `-` for none."""
    return "-" if value is None else f"{value:.0%}"


@dataclass(frozen=True)
class YardstickTiming:
    """One timing of the yardstick as it is and one with tryon's allocator, taken together."""

    plain: float
    same_allocator: float


def time_yardsticks() -> YardstickTiming:
    """The yardstick timed as it is, then with tryon's allocator."""
    return YardstickTiming(plain=time_yardstick(), same_allocator=time_yardstick(tryon_allocator=True))


def unit_of(timings: list[YardstickTiming]) -> Unit:
    """The unit of a run from its paired timings (one before the benchmark, then after each
    configuration or after the whole)."""
    return unit_from(
        [timing.plain for timing in timings], same_allocator=[timing.same_allocator for timing in timings]
    )


class Measured(NamedTuple):
    """A configuration's result and the unit it is expressed in (`YardstickRun.after_configuration`)."""

    result: dict
    unit: Unit | None  # None: the run's


class YardstickRun:
    """The yardstick timings of one benchmark run, the first taken on construction.

    On the CPU the yardstick runs on the cores that the configurations use, so it is timed again
    after each configuration and a configuration's unit is the timings on either side of it: one
    measured while the machine was slow (or fast) is set against the yardstick under the same
    conditions. On a GPU the yardstick only describes the host, and timing it after every row
    would take a good part of a row's time there, so it is timed once more at the end.
    """

    def __init__(self, device: str) -> None:
        self.per_configuration = device == "cpu"
        self.timings = [time_yardsticks()]

    def after_configuration(self) -> Unit | None:
        """The unit of the configuration just measured; None where that is the run's."""
        if not self.per_configuration:
            return None
        self.timings.append(time_yardsticks())
        return unit_of(self.timings[-2:])

    @property
    def so_far(self) -> Unit:
        """The unit from the timings taken so far: a row's, while the run's is not yet known."""
        return unit_of(self.timings)

    def finish(self) -> Unit:
        """The run's unit, from all of its timings."""
        if not self.per_configuration:
            self.timings.append(time_yardsticks())
        return self.so_far
