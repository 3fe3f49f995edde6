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

The original ACGPN code's figures it compares with are quoted (bench/quoted.py), not measured here.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Self

from child import ConfigurationFailed, count_failed, failed_cell, run_json
from machine import Machine, Measured, Unit, YardstickRun, detect, percent
from quoted import TRAINING_STEP, TRAINING_STEP_UNITS, for_capability
from results import command_line, write_section

from tryon.precision import resolve_precision

HEADING = "## Training"
STAGES = ("sgm", "warp", "fusion", "full")
LOADER_SAMPLES = 32
GB = 2**30
GPU_MEMORY_CLAIM_GB = 16  # the claim checked on a GPU: the `original` preset trains at 1024x768 batch 1 in this


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


def build_trainer(
    *,
    stage: str,
    preset: str,
    size: str,
    batch: int,
    device,
    precision: str,
    channels_last: bool = False,
    checkpointing: bool = False,
    compile: bool = False,
    fused_optimizer: bool = True,
    vgg: bool = True,
    model_overrides: dict | None = None,
):
    """A prepared `StageTrainer` for `stage` (sgm, warp, fusion, or full: all three in one step) and
    one batch of `batch` synthetic samples on `device`; `model_overrides` are ModelConfig fields
    set on top of the preset's (a params.yaml `model` section)."""
    from tryon.config import ModelConfig, Resolution, StageConfig, TrainConfig
    from tryon.nets import VGG19Features
    from tryon.train.distributed import DistributedContext
    from tryon.train.schedule import stage_schedule
    from tryon.train.stages import STAGES as TRAINING_STAGES
    from tryon.train.stages import joint_stage
    from tryon.train.trainer import StageTrainer, to_device

    model_config = ModelConfig.from_preset(preset, Resolution.parse(size), **(model_overrides or {}))
    config = TrainConfig(
        precision=precision,
        channels_last=channels_last,
        checkpointing=checkpointing,
        compile=compile,
        fused_optimizer=fused_optimizer,
        batch_size=batch,
    )
    trainer = StageTrainer(
        stage=joint_stage() if stage == "full" else TRAINING_STAGES[stage],
        model_config=model_config,
        config=config,
        schedule=stage_schedule(StageConfig(max_steps=10**6), steps_per_epoch=1),
        context=DistributedContext(device=device),
        vgg=VGG19Features() if vgg else None,
    )
    trainer.prepare()
    return trainer, to_device(synthetic_batch(size, batch), device, channels_last=channels_last)


def params_model_overrides(path: Path | None) -> dict:
    """The model settings of a params.yaml other than its preset and resolution (which the
    benchmark's own options set): TPS grid, regressor depth and the like."""
    if path is None:
        return {}
    import yaml

    model = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
    return {key: value for key, value in model.items() if key not in ("preset", "resolution")}


def measure(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: one configuration, timed after warm-up."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tryon.nets import UNet

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    trainer, batch = build_trainer(
        stage=args.stage,
        preset=args.preset,
        size=args.size,
        batch=args.batch,
        device=device,
        precision=args.precision,
        channels_last=args.channels_last,
        checkpointing=args.checkpointing,
        compile=args.compile,
        fused_optimizer=not args.foreach,
        vgg=args.vgg,
        model_overrides=params_model_overrides(args.params),
    )
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
    saved_checkpointed = saved.peak
    if not args.checkpointing:
        # One more step with every U-Net checkpointed, for the estimate of larger sizes.
        for module in trainer.generators.modules():
            if isinstance(module, UNet):
                module.checkpointing = True
        with SavedTensorMeter() as probe:
            step()
        saved_checkpointed = probe.peak
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
        "saved_checkpointed_gb": saved_checkpointed / GB,
        "static_gb": static / GB,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_cuda_gb": torch.cuda.max_memory_allocated(device) / GB if device.type == "cuda" else None,
        "repeats": args.repeats,
    }


def measure_loader(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: samples/s that the training DataLoader decodes with N workers."""
    import torch

    from tryon.config import Resolution
    from tryon.data.dataset import TryOnDataset
    from tryon.data.synthetic import generate_dataset
    from tryon.train.data import ResumableSampler, make_loader

    torch.set_num_threads(args.threads)
    resolution = Resolution.parse(args.size)
    root = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    generate_dataset(root, n_train=LOADER_SAMPLES, n_test=2, resolution=resolution, seed=0, workers=1)
    dataset = TryOnDataset(root, phase="train", resolution=resolution)
    sampler = ResumableSampler(dataset, rank=0, world_size=1, seed=0)
    loader = make_loader(dataset, sampler, batch_per_device=4, workers=args.loader_workers, pin_memory=False)
    for _ in loader:  # the first epoch starts the workers
        pass
    started = time.perf_counter()
    for _ in loader:
        pass
    return {"workers": args.loader_workers, "samples_per_s": len(dataset) / (time.perf_counter() - started)}


def pixels(size: str) -> int:
    height, width = (int(value) for value in size.split("x"))
    return height * width


def child_command(
    args: argparse.Namespace, preset: str, size: str, batch: int, stage: str, **switches
) -> list[str]:
    """The subprocess measuring one configuration; `switches` override the command line's
    `precision`, `channels_last`, `compile`, `checkpointing` and `fused_optimizer`."""
    settings = {
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "checkpointing": False,
        "fused_optimizer": True,
        **switches,
    }
    command = [sys.executable, __file__, "--child", "--preset", preset, "--size", size, "--batch", str(batch)]
    command += ["--stage", stage, "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    command += ["--threads", str(args.threads), "--precision", settings["precision"], "--device", args.device]
    flags = {
        "--checkpointing": settings["checkpointing"],
        "--channels-last": settings["channels_last"],
        "--compile": settings["compile"],
        "--foreach": not settings["fused_optimizer"],
        "--no-vgg": not args.vgg,
    }
    if args.params is not None:
        command += ["--params", str(args.params)]
    return command + [flag for flag, on in flags.items() if on]


def estimate(reference: dict, size: str, batch: int, *, checkpointing: bool) -> tuple[float, float]:
    """(memory GB, step seconds) at `size` x `batch` from a measured 256x192 batch-1 reference:
    saved activations and FLOPs scale with pixels x batch, the weights and optimizer state do not.
    The recomputation's working set under checkpointing (one U-Net level at a time) is not counted."""
    scale = pixels(size) * batch / (pixels(reference["size"]) * reference["batch"])
    saved = reference["saved_checkpointed_gb"] if checkpointing else reference["saved_gb"]
    return reference["static_gb"] + saved * scale, reference["median_s"] * scale


def row(result: dict, unit: Unit) -> str:
    """One measured configuration, its time also in units and its GFLOP/s against the unit's; a
    result from `median_run` adds the range of its rates over the runs."""
    cuda = f"{result['peak_cuda_gb']:.2f}" if result.get("peak_cuda_gb") is not None else "-"
    flop, seconds = result["tflop_per_step"] * 1e12, result["median_s"]
    rate = f"{unit.efficiency(flop=flop, seconds=seconds):.0%}{spread(result.get('rates'))}"
    same = percent(unit.same_allocator_efficiency(flop=flop, seconds=seconds))
    same += spread(result.get("same_allocator_rates"))
    return (
        f"| {result['preset']} | {result['size']} | {result['batch']} | {result['stage']} | "
        f"{'yes' if result['checkpointing'] else 'no'} | {result['median_s']:.3f} | "
        f"{unit.units(result['median_s']):.2f} | {result['images_per_s']:.2f} | "
        f"{result['tflop_per_step']:.3f} | {rate} | {same} | "
        f"{result['peak_rss_gb']:.2f} | {cuda} | "
        f"{result['static_gb'] + result['saved_gb']:.2f} |"
    )


def spread(rates: list[float] | None) -> str:
    """` (lowest-highest%)` of a row's rates over several runs; nothing for one run or none."""
    if not rates or len(rates) < 2:
        return ""
    return f" ({min(rates):.0%}-{max(rates):.0%})"


def median_run(runs: list[Measured], run_unit: Unit) -> Measured:
    """Of one configuration's runs, each in a fresh process with its own unit (`run_unit` for those
    whose unit is the run's: the units timed so far), the one whose step took the median number of
    units, i.e. the median GFLOP/s against its unit (the lower middle of an even count, in units),
    its result given every run's GFLOP/s against the unit (`rates`) and against the same-allocator
    unit (`same_allocator_rates`, where timed)."""
    plain, same = [], []
    for measured in runs:
        unit = measured.unit or run_unit
        flop, seconds = measured.result["tflop_per_step"] * 1e12, measured.result["median_s"]
        plain.append(unit.efficiency(flop=flop, seconds=seconds))
        same.append(unit.same_allocator_efficiency(flop=flop, seconds=seconds))
    # Fewer units per step is a higher rate: the fastest first.
    ranked = sorted(range(len(runs)), key=lambda index: -plain[index])
    chosen = runs[ranked[(len(runs) - 1) // 2]]
    result = {**chosen.result, "rates": plain}
    if None not in same:
        result["same_allocator_rates"] = same
    return Measured(result, chosen.unit)


HEADER = (
    "| preset | size | batch | stage | grad. ckpt | median s/step | units/step | images/s | TFLOP/step | "
    "GFLOP/s vs unit | vs unit, same allocator | peak RSS GB | peak CUDA GB | "
    "est. GB (weights+state+saved) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def unmeasured(
    preset: str, size: str, batch: int, stage: str, checkpointing: bool, why: str, memory: float | None
) -> str:
    """The row of a configuration that was not measured: `why` is "skipped: ..." with the estimated
    `memory` that ruled it out, or "failed: ..." (`child.failed_cell`)."""
    ckpt = "yes" if checkpointing else "no"
    empty = "| " * 8  # the measured columns
    estimate = "" if memory is None else f"~{memory:.1f} (scaled)"
    return f"| {preset} | {size} | {batch} | {stage} | {ckpt} | {why} {empty}{estimate} |"


def configurations(args: argparse.Namespace) -> list[tuple[str, int, bool]]:
    """(size, batch, gradient checkpointing) in measuring order; the first is the 256x192 reference."""
    if args.quick:
        return [("256x192", args.batch_size, False)]
    if args.sizes:
        sizes = args.sizes.split(",")
        return [(size, args.batch_size, False) for size in sizes] + [(sizes[-1], args.batch_size, True)]
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="default,original")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--quick", action="store_true", help="Only 256x192 (at --batch-size).")
    parser.add_argument(
        "--sizes",
        help="Sizes to measure at --batch-size, smallest first; the last also with gradient checkpointing.",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="Batch of --quick and --sizes.")
    parser.add_argument(
        "--params", type=Path, help="A params.yaml whose model settings (TPS grid and the like) to train with."
    )
    parser.add_argument("--heading", default=HEADING, help="Heading of the section --write (re)writes.")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Timed steps per configuration (median reported)."
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="Untimed steps first (the first also counts FLOPs)."
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="Fresh processes per configuration; a row is the one with the median units/step.",
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
    parser.add_argument("--write", type=Path, help=f"Results file whose {HEADING} section to (re)write.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--foreach", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loader-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-switches", dest="switches", action="store_false", help="Skip the switch table.")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_loader(args) if args.loader_workers is not None else measure(args)))
        return

    command = command_line("bench/train.py")
    machine = detect(args.device, threads=args.threads)
    precision = resolve_precision(args.precision, args.device).name
    print(f"Machine: {machine.describe(precision)}", flush=True)
    yardsticks = YardstickRun(args.device)
    before = yardsticks.timings[0]
    print(
        f"Yardstick before: {before.plain:.3f} s ({before.same_allocator:.3f} s with tryon's allocator)",
        flush=True,
    )
    entries = main_table(args, yardsticks)
    unit = yardsticks.finish()
    print(unit.describe(), flush=True)
    table = render_table(entries, unit)
    summary = summarise([entry for entry in entries if isinstance(entry, Measured)], machine, unit)
    print(f"\n{summary}\n", flush=True)
    switches = switch_table(args, precision, machine) if args.switches else ""
    if args.write:
        text = section(command, table, summary, switches, machine.describe(precision), unit, args)
        write_section(args.write, args.heading, text)
    failed = count_failed(entries)
    if failed:
        sys.exit(f"{failed} configuration(s) failed; their rows give the error")


def report(lines: list[str], line: str) -> None:
    lines.append(line)
    print(line, flush=True)


def main_table(args: argparse.Namespace, yardsticks: YardstickRun) -> list[Measured | str]:
    """Every preset x stage x size: a measured result with its unit (`YardstickRun`), or the row of
    one skipped, with the estimate that ruled it out, or failed, with its error. Rows are printed as
    they come (where the run's unit is theirs, in the units timed so far)."""
    budget = memory_budget_gb(args)
    print(HEADER, flush=True)
    entries: list[Measured | str] = []
    for preset in args.presets.split(","):
        for stage in args.stages.split(","):
            reference = None
            for size, batch, checkpointing in configurations(args):
                if reference is not None:
                    memory, seconds = estimate(reference, size, batch, checkpointing=checkpointing)
                    why = None
                    if memory > budget:
                        why = f"needs ~{memory:.0f} GB > {budget:.0f} GB"
                    elif seconds > args.max_step_seconds:
                        why = f"~{seconds:.0f} s/step > {args.max_step_seconds:.0f} s"
                    if why is not None:
                        entries.append(
                            unmeasured(preset, size, batch, stage, checkpointing, f"skipped: {why}", memory)
                        )
                        print(entries[-1], flush=True)
                        continue
                command = child_command(args, preset, size, batch, stage, checkpointing=checkpointing)
                try:
                    runs = [
                        Measured(run_json(command), yardsticks.after_configuration()) for _ in range(args.runs)
                    ]
                except ConfigurationFailed as failure:
                    # Out of GPU memory, say: the row says so and the larger or checkpointed
                    # configurations still run.
                    print(failure, file=sys.stderr, flush=True)
                    entries.append(
                        unmeasured(preset, size, batch, stage, checkpointing, failed_cell(failure), None)
                    )
                    print(entries[-1], flush=True)
                    continue
                entries.append(median_run(runs, yardsticks.so_far))
                reference = reference or entries[-1].result
                print(row(entries[-1].result, entries[-1].unit or yardsticks.so_far), flush=True)
    return entries


def render_table(entries: list[Measured | str], unit: Unit) -> str:
    """The table of `main_table`'s entries; `unit` is the run's."""
    lines = [entry if isinstance(entry, str) else row(entry.result, entry.unit or unit) for entry in entries]
    return "\n".join([HEADER, *lines])


def switches(precision: str, machine: Machine) -> tuple[tuple[str, dict | None], ...]:
    """The speed switches, one at a time, after the baseline that runs at `precision` (the resolved
    `--precision`); the precision switch tries the other of bf16 and fp32. A switch whose settings
    are None is listed but not run: bf16 autocast where the CPU only emulates it takes minutes
    per step and is never what `auto` picks there."""
    other = "fp32" if precision == "bf16" else "bf16"
    emulated = other == "bf16" and not machine.bf16_native and machine.device == "cpu"
    autocast = "no autocast" if other == "fp32" else f"autocast, {'emulated' if emulated else 'native'}"
    return (
        (f"baseline: {precision}, fused Adam, NCHW, eager", {}),
        (f"precision {other} ({autocast})", None if emulated else {"precision": other}),
        ("channels_last", {"channels_last": True}),
        ("torch.compile", {"compile": True}),
        ("foreach Adam instead of fused", {"fused_optimizer": False}),
        ("gradient checkpointing", {"checkpointing": True}),
    )


def switch_table(args: argparse.Namespace, precision: str, machine: Machine) -> str:
    """Each speed switch against the baseline: the default preset's full step at 256x192 batch 1,
    with its first step (allocations, oneDNN primitives, and compilation where switched on), and
    the DataLoader's decoding rate with and without workers."""
    lines: list[str] = []
    report(
        lines,
        "| switch (default preset, full step, 256x192, batch 1) | median s/step | vs baseline | first step s |",
    )
    report(lines, "|---|---|---|---|")
    baseline = None
    base = {"precision": precision, "channels_last": False, "compile": False}
    for name, switch in switches(precision, machine):
        if switch is None:
            report(lines, f"| {name} | not run: emulated bf16 takes minutes per step | | |")
            continue
        result = run_json(child_command(args, "default", "256x192", 1, "full", **{**base, **switch}))
        baseline = baseline or result["median_s"]
        report(
            lines,
            f"| {name} | {result['median_s']:.3f} | {baseline / result['median_s']:.2f}x "
            f"| {result['first_s']:.1f} |",
        )
    for workers in (0, 2):
        command = [sys.executable, __file__, "--child", "--size", "256x192", "--threads", str(args.threads)]
        result = run_json([*command, "--loader-workers", str(workers)])
        report(
            lines,
            f"| DataLoader, {workers} workers: samples/s decoded (256x192) | {result['samples_per_s']:.0f} | | |",
        )
    return "\n".join(lines)


def summarise(measured: list[Measured], machine: Machine, unit: Unit) -> str:
    """The full step at 256x192 batch 1 beside the original code's quoted figures (speed-ups from
    the row's units, on the CPU only, where they were measured), and the memory that 1024x768
    batch 1 needs with and without gradient checkpointing. `unit` is the whole run's."""
    quote = for_capability(TRAINING_STEP, machine.capability)
    notes = [f"- Yardstick: {unit.describe()}.", f"- Original ACGPN code: {TRAINING_STEP_UNITS}; {quote}."]
    references = {
        (entry.result["preset"], entry.result["stage"]): entry
        for entry in measured
        if (entry.result["size"], entry.result["batch"], entry.result["checkpointing"]) == ("256x192", 1, False)
    }
    for (preset, stage), (result, row_unit) in references.items():
        if stage == "full":
            units = (row_unit or unit).units(result["median_s"])
            speedup = f": {TRAINING_STEP_UNITS.speedup(units)}" if machine.device.startswith("cpu") else ""
            notes.append(
                f"- {preset}: full step {result['median_s']:.2f} s, {result['tflop_per_step']:.2f} TFLOP, "
                f"peak RSS {result['peak_rss_gb']:.1f} GB{speedup}"
            )
    for result, _ in measured:
        if result["size"] == "1024x768" and result.get("peak_cuda_gb") is not None:
            fits = "within" if result["peak_cuda_gb"] <= GPU_MEMORY_CLAIM_GB else "over"
            notes.append(
                f"- {result['preset']} {result['stage']} at 1024x768 batch 1, gradient checkpointing "
                f"{'on' if result['checkpointing'] else 'off'}: peak CUDA memory {result['peak_cuda_gb']:.1f} GB, "
                f"{fits} {GPU_MEMORY_CLAIM_GB} GB"
            )
    for preset in dict.fromkeys(preset for preset, _ in references):
        memory = {
            stage: tuple(
                estimate(references[preset, stage].result, "1024x768", 1, checkpointing=checkpointing)[0]
                for checkpointing in (False, True)
            )
            for stage in STAGES
            if (preset, stage) in references
        }
        parts = ", ".join(
            f"{stage} {plain:.1f} / {checkpointed:.1f}" for stage, (plain, checkpointed) in memory.items()
        )
        notes.append(f"- {preset} at 1024x768 batch 1, GB without / with gradient checkpointing: {parts}")
    return "\n".join(notes)


def section(
    command: str,
    table: str,
    summary: str,
    switches: str,
    machine_line: str,
    unit: Unit,
    args: argparse.Namespace,
) -> str:
    """The `## Training` section of RESULTS.md."""
    switch_part = (
        f"\nSpeed switches, one at a time (same measurement); the DataLoader rows are decoding rates alone\n"
        f"(in training the workers decode while the step runs):\n\n{switches}\n"
        if switches
        else ""
    )
    runs_note = (
        f" Each configuration ran in {args.runs} fresh processes (on the CPU each followed by a"
        " yardstick timing); a row is the process whose step took the median units, the range of its"
        " rates over the processes in brackets."
        if args.runs > 1
        else ""
    )
    return f"""{args.heading}

Command: `{command}`
({time.strftime("%Y-%m-%d")}; {machine_line}; channels_last {args.channels_last}, compile {args.compile},
perceptual loss {"on" if args.vgg else "off"}{f", model settings of {args.params}" if args.params else ""}; {unit.describe()}).

A step is `StageTrainer.train_step`: the stage forward, every phase's backward, the optimizer steps,
schedules and EMA; the median of {args.repeats} steps after {args.warmup} warm-up step(s), data loading excluded
(the loader's workers overlap it).{runs_note}
`full` trains every module in one step, as the original code does.
FLOPs from `torch.utils.flop_counter` (forward + backward). `units/step` is the step in yardsticks,
machine-independent: on the CPU each row's unit is the yardstick timed just before and just after
it (the line above gives every timing of the run). `GFLOP/s vs unit` is the step's achieved GFLOP/s over
the yardstick's, and `same allocator` over the yardstick's run with tryon's allocator, which the
step runs with (`tryon.allocator`; the yardstick is faster with it too). The last column is
weights, gradients, Adam moments and EMA plus the peak of the tensors saved for backward; skipped
rows show it scaled from 256x192 by pixels x batch. Peak RSS includes the Python and PyTorch
runtime (~0.4 GB).

{table}

{summary}
{switch_part}"""


if __name__ == "__main__":
    main()
