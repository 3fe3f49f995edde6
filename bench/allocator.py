"""Training steps and try-ons with glibc's default malloc against the retained heap that the CPU
trainer and pipeline set up (`tryon.allocator.retain_freed_memory`): median time and peak RSS.

The setting is process-wide and cannot be undone, so every measurement runs in a fresh process
with $TRYON_ALLOCATOR set to the setting (`system` or `retained`). The two alternate over --rounds
so that a busy machine slows each alike, and each row reports the median over rounds of each
process's median.

    .venv/bin/python bench/allocator.py --write bench/RESULTS.md
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/allocator.py  # no-bf16 CPU
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from child import parse_or_measure, run_json
from infer import synthetic_tryon
from machine import detect
from results import add_section_options, command_line, write_section

from tryon.allocator import ALLOCATOR_ENV
from tryon.precision import resolve_precision

HEADING = "## Allocator"
SIZE = "256x192"
SETTINGS = ("system", "retained")  # of ALLOCATOR_ENV


@dataclass(frozen=True)
class Workload:
    """One thing to time: a training step of `stage`, a try-on of `garments` on one avatar, or
    (without a preset) the shared yardstick's pass, the unit of the other benchmarks."""

    name: str
    preset: str | None = None  # the yardstick when None
    stage: str | None = None  # a training step when set
    garments: int = 1  # a try-on's batch otherwise

    def describe(self) -> str:
        if self.preset is None:
            return "the yardstick: four fp32 64-channel 3x3 convolutions, forward and backward"
        if self.stage:
            return f"training step, {self.preset}, {self.stage}, batch 1"
        return f"try-on, {self.preset}, {self.garments} garment{'s' * (self.garments != 1)} on one avatar"


WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload("train-default", "default", stage="full"),
        Workload("train-original", "original", stage="full"),
        Workload("tryon-1", "default", garments=1),
        Workload("tryon-8", "default", garments=8),
        Workload("tryon-32", "default", garments=32),
        Workload("yardstick"),
    )
}
DEFAULT_WORKLOADS = "train-default,train-original,tryon-1,tryon-8"


def training_pass(workload: Workload, args: argparse.Namespace) -> Callable[[], object]:
    import torch
    from train import build_trainer

    trainer, batch = build_trainer(
        stage=workload.stage,
        preset=workload.preset,
        size=SIZE,
        batch=1,
        device=torch.device("cpu"),
        precision=args.precision,
    )
    return partial(trainer.train_step, [([0], batch)], epoch=0)


def tryon_pass(workload: Workload, args: argparse.Namespace) -> Callable[[], object]:
    import torch

    from tryon.config import ModelConfig, Resolution
    from tryon.nets import TryOnGenerators
    from tryon.pipeline import TryOnPipeline

    torch.manual_seed(0)
    resolution = Resolution.parse(SIZE)
    config = ModelConfig.from_preset(workload.preset, resolution)
    pipeline = TryOnPipeline(TryOnGenerators.from_config(config), config, precision=args.precision)
    return partial(pipeline, *synthetic_tryon(pipeline, garments=workload.garments))


def yardstick_pass() -> Callable[[], object]:
    """The shared yardstick's pass (its `unit`) in this process, after setting up the allocator as
    the trainer and the pipeline do (which $TRYON_ALLOCATOR selects)."""
    import runpy

    from machine import yardstick_path

    from tryon.allocator import retain_freed_memory

    retain_freed_memory()
    path = str(yardstick_path())
    sys.argv = [path, "1"]  # the script times its pass once as it loads
    return runpy.run_path(path, run_name="yardstick")["unit"]


def measure(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: the workload's median seconds, its page faults per pass (minor
    faults: fresh pages touched) and the process's peak RSS."""
    import torch

    torch.set_num_threads(args.threads)
    workload = WORKLOADS[args.workloads]
    if workload.preset is None:
        run_pass = yardstick_pass()
    elif workload.stage:
        run_pass = training_pass(workload, args)
    else:
        run_pass = tryon_pass(workload, args)
    for _ in range(args.warmup):
        run_pass()
    seconds = []
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.repeats):
        started = time.perf_counter()
        run_pass()
        seconds.append(time.perf_counter() - started)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {
        "median_s": statistics.median(seconds),
        "faults_per_pass": faults / args.repeats,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def run_child(args: argparse.Namespace, workload: str, setting: str) -> dict:
    options = {"--workloads": workload, "--precision": args.precision, "--threads": args.threads}
    options |= {"--warmup": args.warmup, "--repeats": args.repeats}
    command = [sys.executable, __file__, "--child", *(str(part) for pair in options.items() for part in pair)]
    return run_json(command, environment={**os.environ, ALLOCATOR_ENV: setting})


def row(workload: Workload, results: dict[str, list[dict]]) -> str:
    seconds = {setting: statistics.median(r["median_s"] for r in results[setting]) for setting in SETTINGS}
    rss = {setting: max(r["peak_rss_gb"] for r in results[setting]) for setting in SETTINGS}
    faults = {
        setting: statistics.median(r["faults_per_pass"] for r in results[setting]) for setting in SETTINGS
    }
    spread = {
        setting: "-".join(f"{value:.3f}" for value in sorted(r["median_s"] for r in results[setting]))
        for setting in SETTINGS
    }
    return (
        f"| {workload.describe()} | {seconds['system']:.3f} ({spread['system']}) "
        f"| {seconds['retained']:.3f} ({spread['retained']}) | {seconds['system'] / seconds['retained']:.2f}x "
        f"| {faults['system']:.0f} | {faults['retained']:.0f} | {rss['system']:.2f} | {rss['retained']:.2f} |"
    )


HEADER = [
    (
        "| workload (256x192) | system malloc: median s (per process) | retained heap: median s (per process) "
        "| speed-up | system: page faults per pass | retained: page faults per pass "
        "| system: peak RSS GB | retained: peak RSS GB |"
    ),
    "|---|---|---|---|---|---|---|---|",
]


def section(command: str, lines: list[str], machine_line: str, args: argparse.Namespace) -> str:
    return "\n".join(
        [
            args.heading,
            "",
            f"Command: `{command}`",
            f"({time.strftime('%Y-%m-%d')}; {machine_line}).",
            "",
            "`system` is glibc's malloc as it comes: allocations above its mmap threshold (at most 32 MB) are",
            "fresh pages from the kernel, faulted in on first touch and unmapped on free. `retained` is what",
            "the CPU trainer and pipeline set by default (`tryon.allocator`; $TRYON_ALLOCATOR picks either):",
            "every allocation from the heap, freed memory kept there for the next pass. Each time is the",
            f"median over the fresh processes of a setting ({args.rounds} per setting, the two alternating) of",
            f"each process's median of {args.repeats} passes after {args.warmup} warm-up passes; the processes'",
            "medians are in brackets. Random weights;",
            "training steps as `## Training` times them, try-ons as `## Inference` does. Page faults are the",
            "process's minor faults (`getrusage`: fresh pages touched) per timed pass.",
            "",
            *lines,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS, help=f"Some of {', '.join(WORKLOADS)}.")
    parser.add_argument("--rounds", type=int, default=3, help="Fresh processes per setting and workload.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes per process (median).")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    add_section_options(parser, HEADING)
    args = parse_or_measure(parser, measure)
    if args is None:
        return

    names = args.workloads.split(",")
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")
    machine = detect("cpu", threads=args.threads)
    machine_line = machine.describe(resolve_precision(args.precision, "cpu").name)
    print(f"Machine: {machine_line}", flush=True)
    lines = list(HEADER)
    for line in HEADER:
        print(line, flush=True)
    for name in names:
        results: dict[str, list[dict]] = {setting: [] for setting in SETTINGS}
        for round_ in range(args.rounds):
            order = SETTINGS if round_ % 2 == 0 else tuple(reversed(SETTINGS))
            for setting in order:
                results[setting].append(run_child(args, name, setting))
        lines.append(row(WORKLOADS[name], results))
        print(lines[-1], flush=True)
    if args.write:
        write_section(
            args.write, args.heading, section(command_line("bench/allocator.py"), lines, machine_line, args)
        )


if __name__ == "__main__":
    main()
