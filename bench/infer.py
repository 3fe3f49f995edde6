"""Try-on latency, FLOPs and peak memory per resolution, preset and batch size.

Each configuration runs in a fresh subprocess so that its peak RSS is its own: one pass counts the
FLOPs, `--warmup` untimed passes follow (allocations, oneDNN primitives for the shapes), then up to
`--repeats` timed passes (at least three, fewer than `--repeats` once `--time-budget` seconds are
spent), of which the median is reported. Seconds per megapixel show whether time grows with the
pixel count as the FLOPs do. A configuration whose estimated memory or predicted time (scaled from
the preset's first, smallest configuration by pixels x batch) is over the limits is skipped with the
estimate, never run into swap.

`--precision auto` resolves the way training does: bf16 only where the CPU runs it natively, fp32
otherwise (emulated bf16 is 4 to 7 times slower than fp32).

    .venv/bin/python bench/infer.py --write bench/RESULTS.md   # both presets, every size, 2 threads
    .venv/bin/python bench/infer.py --sizes 256x192 --presets default --batches 1
    .venv/bin/python bench/infer.py --sizes 256x192 --batches 1,8,32   # garments on one avatar
    .venv/bin/python bench/infer.py --device cuda --precision bf16      # on a GPU: peak CUDA memory too
    .venv/bin/python bench/infer.py --sizes 256x192 --batches 1 --memory-formats channels_last,contiguous

`--memory-formats` with several weight layouts times them interleaved in one process (same weights,
alternating passes), one row each: the comparison holds even on a machine that is not quiet.

Every time is also given in units of the yardstick (bench/machine.py), timed in the same run (on
the CPU before the table and after each configuration, a row's unit being the timings on either
side of it), and every speed-up against the original code is computed from those units.

A batch of B is B garments tried on one avatar: the person representation is computed once and
expanded to the batch without copying, as the server and the catalog renderer do.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

from child import ConfigurationFailed, count_failed, failed_cell, parse_or_measure, run_json
from machine import Machine, Unit, YardstickRun, detect, percent
from quoted import TRYON, TRYON_UNITS, for_capability
from results import add_section_options, command_line, write_section

from tryon.precision import resolve_precision

HEADING = "## Inference"
RSS_BUDGET_GB = 20.0  # leaves headroom on the 24 GB machine
MIN_REPEATS = 3  # the fewest timed passes whose median is reported
MEGAPIXEL = 1e6
NOISY_SPREAD = 1.5  # slowest / fastest timed pass above which something else was using the CPU
SCALING = (
    "Time per megapixel stays flat (1.00x) where time grows with the pixels, as the FLOPs do. A row "
    "below 1.00x spreads the pass's fixed costs (operator dispatch, the TPS fit's small solves) over more "
    "pixels; a row above it spends more per pixel (feature maps that no longer fit in the caches, "
    "memory-bound steps). A row far from its neighbours, or a noisy one, was measured on a busy machine."
)


LAYOUTS = {"auto": None, "channels_last": True, "contiguous": False}
"""--memory-formats names and `TryOnPipeline`'s `channels_last` for each (auto: the device's)."""


def synthetic_tryon(pipeline, *, garments: int) -> tuple:
    """A random avatar's representation and `garments` random garments with their masks, at the
    pipeline's resolution and on its device: what every try-on benchmark passes to `pipeline`."""
    import torch

    from tryon.labels import NUM_KEYPOINTS, NUM_LABELS

    device = pipeline.device
    height, width = pipeline.config.resolution.shape
    image = torch.rand(1, 3, height, width, device=device) * 2 - 1
    labels = torch.randint(0, NUM_LABELS, (1, height, width), device=device)
    frame = torch.tensor([width, height, 1.0], device=device)
    keypoints = torch.rand(1, NUM_KEYPOINTS, 3, device=device) * frame
    garment = torch.rand(garments, 3, height, width, device=device) * 2 - 1
    garment_mask = (torch.rand(garments, 1, height, width, device=device) > 0.5).float()
    return pipeline.represent(image, labels, keypoints), garment, garment_mask


def measure(args: argparse.Namespace) -> list[dict]:
    """Runs inside the subprocess: build the pipeline with random weights and time try-ons, one result
    per weight layout of --memory-formats. Several layouts are timed interleaved in this one process
    (the same weights, alternating passes), so that a busy machine slows each alike."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tryon.config import ModelConfig, Resolution
    from tryon.nets import TryOnGenerators
    from tryon.pipeline import TryOnPipeline

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    resolution = Resolution.parse(args.sizes)
    batch = int(args.batches)
    config = ModelConfig.from_preset(args.presets, resolution)
    generators = TryOnGenerators.from_config(config).to(device)
    layouts = args.memory_formats.split(",")
    pipelines = [
        TryOnPipeline(
            copy.deepcopy(generators), config, precision=args.precision, channels_last=LAYOUTS[layout]
        )
        for layout in layouts
    ]
    person, garment, garment_mask = synthetic_tryon(pipelines[0], garments=batch)

    def tryon(pipeline: TryOnPipeline) -> float:
        started = time.perf_counter()
        pipeline(person, garment, garment_mask)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    with FlopCounterMode(display=False) as counter:
        pipelines[0](person, garment[:1], garment_mask[:1])
    for _ in range(args.warmup):
        for pipeline in pipelines:
            tryon(pipeline)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[list[float]] = [[] for _ in pipelines]
    while len(times[0]) < args.repeats and (len(times[0]) < MIN_REPEATS or sum(times[0]) < args.time_budget):
        order = range(len(pipelines)) if len(times[0]) % 2 == 0 else reversed(range(len(pipelines)))
        for index in order:
            times[index].append(tryon(pipelines[index]))
    return [
        {
            "preset": args.presets,
            "size": args.sizes,
            "batch": batch,
            "precision": args.precision,
            "memory_format": str(pipeline.memory_format).removeprefix("torch.").removesuffix("_format"),
            "median_s": statistics.median(timed),
            "min_s": min(timed),
            "max_s": max(timed),
            "gflop_per_tryon": counter.get_total_flops() / 1e9,
            # The process's: with several layouts, all of their weights and passes together.
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "peak_cuda_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
            "repeats": len(timed),
        }
        for pipeline, timed in zip(pipelines, times, strict=True)
    ]


def run_child(args: argparse.Namespace, preset: str, size: str, batch: int, precision: str) -> list[dict]:
    options = {
        "--presets": preset,
        "--sizes": size,
        "--batches": batch,
        "--repeats": args.repeats,
        "--warmup": args.warmup,
        "--time-budget": args.time_budget,
        "--threads": args.threads,
        "--precision": precision,
        "--device": args.device,
        "--memory-formats": args.memory_formats,
    }
    command = [
        sys.executable,
        __file__,
        "--child",
        *(str(part) for option in options.items() for part in option),
    ]
    return run_json(command)


def pixels(size: str) -> int:
    height, width = (int(v) for v in size.split("x"))
    return height * width


def seconds_per_megapixel(result: dict) -> float:
    """Median seconds of one try-on per million output pixels: constant if time scales like pixels."""
    return result["median_s"] / result["batch"] / (pixels(result["size"]) / MEGAPIXEL)


HEADER = (
    "| preset | size | batch | precision | weights | median s (batch) | min-max s | s per try-on | units per try-on "
    "| try-ons/s | s per MP | s per MP vs first | GFLOP per try-on | GFLOP/s | GFLOP/s vs unit | vs unit, same "
    "allocator | peak RSS GB | peak CUDA GB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(result: dict, reference: dict, unit: Unit) -> str:
    """A measured configuration; `reference` is its preset's first, whose s per MP it is compared with."""
    per_tryon = result["median_s"] / result["batch"]
    per_mp = seconds_per_megapixel(result)
    cells = [
        result["preset"],
        result["size"],
        result["batch"],
        result["precision"],
        result.get("memory_format", "-"),
        f"{result['median_s']:.3f}",
        f"{result['min_s']:.3f}-{result['max_s']:.3f}",
        f"{per_tryon:.3f}",
        f"{unit.units(per_tryon):.3f}",
        f"{1 / per_tryon:.2f}",
        f"{per_mp:.2f}",
        f"{per_mp / seconds_per_megapixel(reference):.2f}x",
        f"{result['gflop_per_tryon']:.1f}",
        f"{result['gflop_per_tryon'] / per_tryon:.0f}",
        f"{unit.efficiency(flop=result['gflop_per_tryon'] * 1e9, seconds=per_tryon):.0%}",
        percent(unit.same_allocator_efficiency(flop=result["gflop_per_tryon"] * 1e9, seconds=per_tryon)),
        f"{result['peak_rss_gb']:.2f}",
        "-" if result.get("peak_cuda_gb") is None else f"{result['peak_cuda_gb']:.2f}",
    ]
    return "| " + " | ".join(map(str, cells)) + " |"


def unmeasured(preset: str, size: str, batch: int, precision: str, why: str) -> str:
    """The row of a configuration that was not measured: `why` is "skipped: ..." with the estimate
    that ruled it out, or "failed: ..." (`child.failed_cell`)."""
    empty = "| " * 12  # the measured columns
    return f"| {preset} | {size} | {batch} | {precision} | - | {why} {empty}|"


def skip_reason(reference: dict, size: str, batch: int, args: argparse.Namespace) -> str | None:
    """Why a configuration is not run, from its estimates scaled by pixels x batch, or None."""
    scale = pixels(size) * batch / (pixels(reference["size"]) * reference["batch"])
    memory = reference["peak_rss_gb"] * scale  # an upper estimate: the whole RSS, weights included
    seconds = reference["median_s"] * scale
    if memory > RSS_BUDGET_GB:
        return f"est. {memory:.0f} GB > {RSS_BUDGET_GB:.0f} GB (whole RSS scaled by pixels x batch)"
    if seconds > args.max_seconds:
        return f"est. {seconds:.0f} s per pass > {args.max_seconds:.0f} s"
    return None


Row = tuple[dict, dict, Unit | None]
"""A measured row: its result, its preset's reference result, and its unit (`YardstickRun`; None
where that is the run's)."""


def table(args: argparse.Namespace, precision: str, yardsticks: YardstickRun) -> list[Row | str]:
    """Every preset x size x batch: a measured row or the skipped one. Rows are printed as they come
    (where the run's unit is theirs, in the units timed so far)."""
    entries: list[Row | str] = []
    print(HEADER, flush=True)
    for preset in args.presets.split(","):
        reference: dict | None = None
        for size in args.sizes.split(","):
            for batch in (int(value) for value in args.batches.split(",")):
                why = skip_reason(reference, size, batch, args) if reference else None
                if why is None:
                    try:
                        results = run_child(args, preset, size, batch, precision)
                    except ConfigurationFailed as failure:
                        # Out of GPU memory, say: the row says so and the other configurations run.
                        print(failure, file=sys.stderr, flush=True)
                        entries.append(unmeasured(preset, size, batch, precision, failed_cell(failure)))
                        print(entries[-1], flush=True)
                        continue
                    unit = yardsticks.after_configuration()
                    for result in results:
                        reference = reference or result
                        entries.append((result, reference, unit))
                        print(row(result, reference, unit or yardsticks.so_far), flush=True)
                else:
                    entries.append(unmeasured(preset, size, batch, precision, f"skipped: {why}"))
                    print(entries[-1], flush=True)
    return entries


def render(entries: list[Row | str], unit: Unit) -> list[str]:
    """The table's lines; `unit` is the run's."""
    lines = [
        entry if isinstance(entry, str) else row(entry[0], entry[1], entry[2] or unit) for entry in entries
    ]
    return [HEADER, *lines]


def noisy(results: list[dict]) -> list[str]:
    """A note naming the rows whose timed passes disagree so much that the machine was not quiet."""
    names = [
        f"{result['preset']} {result['size']} batch {result['batch']} ({result['memory_format']})"
        for result in results
        if result["max_s"] > NOISY_SPREAD * result["min_s"]
    ]
    if not names:
        return []
    return [
        (
            f"- Not quiet: the slowest timed pass is over {NOISY_SPREAD}x the fastest for {', '.join(names)}; "
            "measure again with nothing else running before relying on these rows."
        )
    ]


def one_avatar_throughput(results: list[dict]) -> list[str]:
    """Per preset and size, try-ons per second as the batch of garments on one avatar grows."""
    lines = []
    keys = dict.fromkeys((result["preset"], result["size"], result["memory_format"]) for result in results)
    for preset, size, layout in keys:
        rates = [
            f"{result['batch']}: {result['batch'] / result['median_s']:.2f}"
            for result in results
            if (result["preset"], result["size"], result["memory_format"]) == (preset, size, layout)
        ]
        if len(rates) > 1:
            lines.append(
                f"- {preset} {size} ({layout}), try-ons/s by garments per batch on one avatar: {', '.join(rates)}."
            )
    return lines


def comparisons(rows: list[Row], machine: Machine, unit: Unit) -> list[str]:
    """Each preset's 256x192 batch-1 try-on against the original code's quoted cost in units (its
    row's; on the CPU, where those were measured). `unit` is the whole run's."""
    quote = for_capability(TRYON, machine.capability)
    lines = [f"- Yardstick: {unit.describe()}.", f"- Original ACGPN code: {TRYON_UNITS}; {quote}."]
    for result, _, row_unit in rows:
        if result["size"] == "256x192" and result["batch"] == 1:
            units = (row_unit or unit).units(result["median_s"])
            speedup = TRYON_UNITS.speedup(units) if machine.device == "cpu" else ""
            lines.append(
                f"- {result['preset']} ({result['memory_format']}): {result['gflop_per_tryon']:.1f} GFLOP per "
                f"try-on; {speedup}"
            )
    return lines


def section(
    command: str,
    lines: list[str],
    notes: list[str],
    machine: Machine,
    precision: str,
    unit: Unit,
    args: argparse.Namespace,
) -> str:
    """The `## Inference` section of RESULTS.md (or the one --heading names)."""
    return "\n".join(
        [
            args.heading,
            "",
            f"Command: `{command}`",
            f"({time.strftime('%Y-%m-%d')}; {machine.describe(precision)}; {unit.describe()}).",
            "",
            "One try-on is `TryOnPipeline.__call__` on a precomputed person representation: G1, G2, the TPS",
            "warp with refinement, composition and G3, with random weights (speed does not depend on them).",
            "`weights` is the layout of the networks' weights (`--memory-formats`; several are timed interleaved",
            "in one process, whose peak RSS they share).",
            "A batch is that many garments on one avatar, whose representation is computed once and expanded",
            "without copying (as a served avatar's or the catalog's); `try-ons/s` is the batch over its time.",
            (
                "Each configuration runs in a fresh process: a FLOP-counting pass, "
                f"{args.warmup} untimed warm-up pass(es), then the median of at most {args.repeats} timed passes"
            ),
            (
                f"(at least {MIN_REPEATS}; fewer once {args.time_budget:g} s are spent). `s per MP` is the time "
                "of one try-on per million pixels;"
            ),
            (
                "`vs first` divides it by the preset's first row's, so 1.00x means time grows exactly with the "
                "pixel count, as the FLOPs do."
            ),
            "GFLOP/s is achieved per try-on; `vs unit` divides it by the yardstick's, `same allocator` by",
            "the yardstick's run with tryon's allocator, which the try-on runs with (`tryon.allocator`).",
            "On the CPU a row's unit is the yardstick timed just before and just after its configuration",
            "(the line above gives every timing of the run), so that units follow the machine through it.",
            "",
            *lines,
            "",
            *notes,
            f"- {SCALING}",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="default,original")
    parser.add_argument("--sizes", default="256x192,512x384,1024x768")
    parser.add_argument("--batches", default="1,8,32", help="Garments per batch on one avatar.")
    parser.add_argument("--repeats", type=int, default=5, help="At most this many timed passes.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed passes before them.")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=60.0,
        help="Seconds of timed passes after which "
        f"a configuration stops repeating (once it has {MIN_REPEATS}).",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=120.0, help="Skip configurations whose pass is predicted slower."
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N.")
    parser.add_argument(
        "--memory-formats",
        default="auto",
        help=f"Weight layouts, some of {', '.join(LAYOUTS)}; several are timed interleaved in one process "
        "(auto: the device's, `tryon.precision.inference_memory_format`).",
    )
    add_section_options(parser, HEADING)
    args = parse_or_measure(parser, measure)
    if args is None:
        return

    precision = resolve_precision(args.precision, args.device).name
    machine = detect(args.device, threads=args.threads)
    print(f"Machine: {machine.describe(precision)}", flush=True)
    yardsticks = YardstickRun(args.device)
    entries = table(args, precision, yardsticks)
    unit = yardsticks.finish()
    lines = render(entries, unit)
    rows = [entry for entry in entries if not isinstance(entry, str)]
    results = [result for result, _, _ in rows]
    notes = noisy(results) + comparisons(rows, machine, unit) + one_avatar_throughput(results)
    print("\n" + "\n".join(notes))
    if args.write:
        command = command_line("bench/infer.py")
        text = section(command, lines, notes, machine, precision, unit, args)
        write_section(args.write, args.heading, text)
    failed = count_failed(entries)
    if failed:
        sys.exit(f"{failed} configuration(s) failed; their rows give the error")


if __name__ == "__main__":
    main()
