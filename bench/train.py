"""Training speed, FLOPs and memory per stage, resolution, batch size and preset.

A "step" is `StageTrainer.train_step`, the loop's whole step: the stage forward, every due
phase's backward, the optimizer steps, schedules and EMA (data loading excluded; the loader's
workers overlap it). `full` trains every module in one step (sgm + warp + fusion), the way the
original code's single step does; the perceptual loss is on (VGG19 with random weights: speed does
not depend on them), as in the original.

Each configuration runs in a fresh subprocess so that its peak RSS is its own. Memory is
estimated before running from the bytes saved for backward at 256x192 (the peak of the live saved
tensors, `torch.autograd.graph.saved_tensors_hooks`), scaled by pixels x batch, plus the weights,
gradients, Adam moments and EMA; configurations over the budget are skipped with that estimate,
and so are those whose step time, predicted from the FLOPs and the 256x192 rate, exceeds
--max-step-seconds.

    .venv/bin/python bench/train.py --quick                  # 256x192 batch 1, both presets (~3 min)
    .venv/bin/python bench/train.py --write bench/RESULTS.md # everything, and the ## Training section
    .venv/bin/python bench/train.py --device cuda            # on a GPU: peak CUDA memory too
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Self

STAGES = ("sgm", "warp", "fusion", "full")
GB = 2**30
ORIGINAL_STEP_S = 12.0
"""The original ACGPN code at 256x192 batch 1 on this kind of machine (2 cores): ~12 s per step."""
ORIGINAL_PEAK_GB = 6.0


class SavedTensorMeter:
    """Peak bytes of the distinct storages that autograd keeps alive for backward."""

    def __init__(self) -> None:
        import torch

        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._live: dict[int, list[int]] = {}  # storage address -> [references, bytes]
        self.current = 0
        self.peak = 0

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        entry = self._live.setdefault(key, [0, storage.nbytes()])
        if entry[0] == 0:
            self.current += entry[1]
            self.peak = max(self.peak, self.current)
        entry[0] += 1
        holder = _Saved(tensor)
        weakref.finalize(holder, self._release, key)
        return holder

    @staticmethod
    def _unpack(holder):
        return holder.tensor

    def _release(self, key: int) -> None:
        entry = self._live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.current -= entry[1]
            del self._live[key]

    def __enter__(self) -> Self:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


class _Saved:
    __slots__ = ("__weakref__", "tensor")

    def __init__(self, tensor) -> None:
        self.tensor = tensor


def synthetic_batch(size: str, batch: int):
    """`batch` synthetic samples at `size` (real layouts and poses; the content does not change the cost)."""
    from tryon.config import Resolution
    from tryon.data.dataset import TryOnDataset, collate
    from tryon.data.synthetic import generate_dataset

    resolution = Resolution.parse(size)
    root = Path(tempfile.mkdtemp(prefix="bench-train-"))
    generate_dataset(root, n_train=max(batch, 2), n_test=2, resolution=resolution, seed=0, workers=1)
    dataset = TryOnDataset(root, phase="train", resolution=resolution)
    return collate([dataset[index] for index in range(batch)])


def measure(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: one configuration, timed after warm-up."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tryon.config import ModelConfig, Resolution, StageConfig, TrainConfig
    from tryon.nets import VGG19Features
    from tryon.train.distributed import DistributedContext
    from tryon.train.schedule import stage_schedule
    from tryon.train.stages import STAGES as TRAINING_STAGES
    from tryon.train.stages import joint_stage
    from tryon.train.trainer import StageTrainer, to_device

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    stage = joint_stage() if args.stage == "full" else TRAINING_STAGES[args.stage]
    model_config = ModelConfig.from_preset(args.preset, Resolution.parse(args.size))
    config = TrainConfig(
        precision=args.precision,
        channels_last=args.channels_last,
        checkpointing=args.checkpointing,
        compile=args.compile,
        batch_size=args.batch,
    )
    trainer = StageTrainer(
        stage=stage,
        model_config=model_config,
        config=config,
        schedule=stage_schedule(StageConfig(max_steps=10**6), steps_per_epoch=1),
        context=DistributedContext(device=device),
        vgg=VGG19Features() if args.vgg else None,
    )
    trainer.prepare()
    batch = to_device(synthetic_batch(args.size, args.batch), device, channels_last=args.channels_last)
    micro_batches = [(list(range(args.batch)), batch)]

    def step() -> float:
        started = time.perf_counter()
        trainer.train_step(micro_batches, epoch=0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    with FlopCounterMode(display=False) as counter, SavedTensorMeter() as saved:
        first = step()  # also the warm-up: allocations, optimizer state, oneDNN primitives
    for _ in range(args.warmup - 1):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = [step() for _ in range(args.repeats)]

    def size_of(parameters) -> int:
        return sum(parameter.numel() * parameter.element_size() for parameter in parameters)

    trained = {
        id(parameter): parameter
        for optimizer in trainer.optimizers.values()
        for group in optimizer.param_groups
        for parameter in group["params"]
        if parameter.requires_grad
    }
    networks = [trainer.generators, trainer.discriminators, trainer.ema] + (
        [trainer.vgg] if trainer.vgg else []
    )
    # Every network's weights (the EMA included), and for the trained ones a gradient and two Adam moments.
    static = sum(size_of(network.parameters()) for network in networks) + 3 * size_of(trained.values())
    median = statistics.median(times)
    return {
        "preset": args.preset,
        "size": args.size,
        "batch": args.batch,
        "stage": args.stage,
        "precision": trainer.precision.name,
        "checkpointing": args.checkpointing,
        "device": str(device),
        "median_s": median,
        "first_s": first,
        "images_per_s": args.batch / median,
        "tflop_per_step": counter.get_total_flops() / 1e12,
        "saved_gb": saved.peak / GB,
        "static_gb": static / GB,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_cuda_gb": torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None,
        "repeats": args.repeats,
    }


def pixels(size: str) -> int:
    height, width = (int(value) for value in size.split("x"))
    return height * width


def child_command(
    args: argparse.Namespace, preset: str, size: str, batch: int, stage: str, checkpointing: bool
) -> list[str]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--preset",
        preset,
        "--size",
        size,
        "--batch",
        str(batch),
        "--stage",
        stage,
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
        "--precision",
        args.precision,
        "--device",
        args.device,
    ]
    flags = {
        "--checkpointing": checkpointing,
        "--channels-last": args.channels_last,
        "--compile": args.compile,
        "--no-vgg": not args.vgg,
    }
    return command + [flag for flag, on in flags.items() if on]


def run_child(command: list[str]) -> dict:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def estimate(reference: dict, size: str, batch: int) -> tuple[float, float]:
    """(memory GB, step seconds) at `size` x `batch` from a measured 256x192 batch-1 reference:
    saved activations and FLOPs scale with pixels x batch, the weights and optimizer state do not."""
    scale = pixels(size) * batch / (pixels(reference["size"]) * reference["batch"])
    return reference["static_gb"] + reference["saved_gb"] * scale, reference["median_s"] * scale


def row(result: dict) -> str:
    cuda = f"{result['peak_cuda_gb']:.2f}" if result.get("peak_cuda_gb") is not None else "-"
    return (
        f"| {result['preset']} | {result['size']} | {result['batch']} | {result['stage']} | "
        f"{'yes' if result['checkpointing'] else 'no'} | {result['median_s']:.3f} | {result['images_per_s']:.2f} | "
        f"{result['tflop_per_step']:.3f} | {result['peak_rss_gb']:.2f} | {cuda} | "
        f"{result['static_gb'] + result['saved_gb']:.2f} |"
    )


HEADER = (
    "| preset | size | batch | stage | grad. ckpt | median s/step | images/s | TFLOP/step | peak RSS GB | "
    "peak CUDA GB | est. GB (weights+state+saved) |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def skipped(preset: str, size: str, batch: int, stage: str, checkpointing: bool, why: str) -> str:
    return f"| {preset} | {size} | {batch} | {stage} | {'yes' if checkpointing else 'no'} | skipped: {why} | | | | | |"


def configurations(args: argparse.Namespace) -> list[tuple[str, int, bool]]:
    """(size, batch, gradient checkpointing) in measuring order; the first is the 256x192 reference."""
    if args.quick:
        return [("256x192", 1, False)]
    return [
        ("256x192", 1, False),
        ("256x192", 4, False),
        ("512x384", 1, False),
        ("1024x768", 1, False),
        ("1024x768", 1, True),
    ]


def memory_budget_gb(args: argparse.Namespace) -> float:
    if args.device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_properties(torch.device(args.device)).total_memory / GB * 0.9
    return args.memory_budget


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the `## Training` section of a results file, leaving other sections as they are."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Training\n.*?(?=^## |\Z)", flags=re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="default,original")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--quick", action="store_true", help="Only 256x192 batch 1.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Timed steps per configuration (median reported)."
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="Untimed steps first (the first also counts FLOPs)."
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp16", "fp32"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--no-vgg", dest="vgg", action="store_false", help="Leave the perceptual loss out.")
    parser.add_argument(
        "--memory-budget", type=float, default=20.0, help="GB of RSS a configuration may use (CPU)."
    )
    parser.add_argument(
        "--max-step-seconds", type=float, default=30.0, help="Skip configurations predicted slower."
    )
    parser.add_argument("--write", type=Path, help="Results file whose ## Training section to (re)write.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    command = "bench/train.py " + " ".join(sys.argv[1:])
    budget = memory_budget_gb(args)
    lines = [HEADER]
    print(HEADER, flush=True)
    results = []
    for preset in args.presets.split(","):
        for stage in args.stages.split(","):
            reference = None
            for size, batch, checkpointing in configurations(args):
                if reference is not None:
                    memory, seconds = estimate(reference, size, batch)
                    if checkpointing:
                        memory = None  # unknown until measured; checkpointing is the fix for the memory
                    if memory is not None and memory > budget:
                        line = skipped(
                            preset,
                            size,
                            batch,
                            stage,
                            checkpointing,
                            f"needs ~{memory:.0f} GB > {budget:.0f} GB",
                        )
                        lines.append(line)
                        print(line, flush=True)
                        continue
                    if seconds > args.max_step_seconds:
                        line = skipped(
                            preset,
                            size,
                            batch,
                            stage,
                            checkpointing,
                            f"~{seconds:.0f} s/step > {args.max_step_seconds:.0f} s",
                        )
                        lines.append(line)
                        print(line, flush=True)
                        continue
                result = run_child(child_command(args, preset, size, batch, stage, checkpointing))
                reference = reference or result
                results.append(result)
                lines.append(row(result))
                print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    summary = summarise(results)
    print(summary)
    if args.write:
        write_section(args.write, section(command, table, summary, results, args))


def summarise(results: list[dict]) -> str:
    """Speed-ups of the full step at 256x192 batch 1 over the original code's ~12 s."""
    notes = []
    for result in results:
        if result["size"] == "256x192" and result["batch"] == 1 and result["stage"] == "full":
            notes.append(
                f"- {result['preset']}: full step {result['median_s']:.2f} s = {ORIGINAL_STEP_S / result['median_s']:.1f}x "
                f"faster than the original's ~{ORIGINAL_STEP_S:.0f} s ({result['tflop_per_step']:.2f} TFLOP vs ~1.9), "
                f"peak RSS {result['peak_rss_gb']:.1f} GB vs ~{ORIGINAL_PEAK_GB:.0f} GB"
            )
    return "\n".join(notes)


def section(command: str, table: str, summary: str, results: list[dict], args: argparse.Namespace) -> str:
    import torch

    precision = results[0]["precision"] if results else args.precision
    return f"""## Training

Command: `.venv/bin/python {command}` ({time.strftime("%Y-%m-%d")}, {platform.processor() or platform.machine()},
{os.cpu_count()} CPUs, {args.threads} threads, torch {torch.__version__}, device {args.device}, precision {precision},
channels_last {args.channels_last}, compile {args.compile}, perceptual loss {"on" if args.vgg else "off"}).

A step is `StageTrainer.train_step` (forward, every phase's backward, optimizer steps, schedules, EMA);
median of {args.repeats} steps after {args.warmup} warm-up steps, data loading excluded. `full` trains all modules in
one step like the original code. FLOPs from `torch.utils.flop_counter` (forward + backward). The estimate column
is weights + gradients + Adam moments + EMA + the peak of the tensors saved for backward; skipped rows give that
estimate scaled from 256x192 by pixels x batch.

{table}

Against the original ACGPN code (about {ORIGINAL_STEP_S:.0f} s and {ORIGINAL_PEAK_GB:.0f} GB per 256x192 batch-1 step, ~1.9 TFLOP):
{summary}
"""


if __name__ == "__main__":
    main()
