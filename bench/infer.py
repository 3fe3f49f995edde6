"""Try-on latency, FLOPs and peak memory per resolution, preset and batch size.

Each configuration runs in a fresh subprocess so that its peak RSS is its own. A configuration
whose estimated memory would not fit the machine is skipped with the estimate, never run into swap.

    .venv/bin/python bench/infer.py                       # everything, 2 threads
    .venv/bin/python bench/infer.py --sizes 256x192 --presets default --batches 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

RSS_BUDGET_GB = 20.0  # leaves headroom on the 24 GB machine


def measure(preset: str, size: str, batch: int, repeats: int, threads: int, precision: str) -> dict:
    """Runs inside the subprocess: build the pipeline with random weights and time try-ons."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tryon.config import ModelConfig, Resolution
    from tryon.labels import NUM_KEYPOINTS, NUM_LABELS
    from tryon.nets import TryOnGenerators
    from tryon.pipeline import TryOnPipeline

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    resolution = Resolution.parse(size)
    config = ModelConfig.from_preset(preset, resolution)
    pipeline = TryOnPipeline(TryOnGenerators.from_config(config), config, precision=precision)
    height, width = resolution.shape
    image = torch.rand(1, 3, height, width) * 2 - 1
    labels = torch.randint(0, NUM_LABELS, (1, height, width))
    keypoints = torch.rand(1, NUM_KEYPOINTS, 3) * torch.tensor([width, height, 1.0])
    garment = torch.rand(batch, 3, height, width) * 2 - 1
    garment_mask = (torch.rand(batch, 1, height, width) > 0.5).float()
    person = pipeline.represent(image, labels, keypoints)

    with FlopCounterMode(display=False) as counter:
        pipeline(person, garment[:1], garment_mask[:1])
    pipeline(person, garment, garment_mask)  # warm-up at the measured batch size
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        pipeline(person, garment, garment_mask)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "preset": preset,
        "size": size,
        "batch": batch,
        "precision": precision,
        "threads": threads,
        "median_s": median,
        "per_image_s": median / batch,
        "gflop_per_tryon": counter.get_total_flops() / 1e9,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "repeats": repeats,
    }


def run_child(args: argparse.Namespace, preset: str, size: str, batch: int) -> dict:
    command = [
        sys.executable, __file__, "--child", "--presets", preset, "--sizes", size, "--batches", str(batch),
        "--repeats", str(args.repeats), "--threads", str(args.threads), "--precision", args.precision,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{preset} {size} batch {batch} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def pixels(size: str) -> int:
    height, width = (int(v) for v in size.split("x"))
    return height * width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="default,original")
    parser.add_argument("--sizes", default="256x192,512x384,1024x768")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    presets, sizes = args.presets.split(","), args.sizes.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    if args.child:
        print(json.dumps(measure(presets[0], sizes[0], batches[0], args.repeats, args.threads, args.precision)))
        return

    print(f"| preset | size | batch | precision | median s (batch) | s per try-on | GFLOP per try-on | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in presets:
        reference: dict | None = None
        for size in sizes:
            for batch in batches:
                if reference is not None:
                    # Memory beyond the weights grows with pixels x batch: scale the smallest run.
                    base = reference["peak_rss_gb"]
                    estimate = base * pixels(size) * batch / (pixels(reference["size"]) * reference["batch"])
                    if estimate > RSS_BUDGET_GB:
                        print(f"| {preset} | {size} | {batch} | {args.precision} | skipped: est. {estimate:.0f} GB "
                              f"> {RSS_BUDGET_GB:.0f} GB | | | |", flush=True)
                        continue
                row = run_child(args, preset, size, batch)
                reference = reference or row
                print(f"| {preset} | {size} | {batch} | {row['precision']} | {row['median_s']:.3f} | "
                      f"{row['per_image_s']:.3f} | {row['gflop_per_tryon']:.1f} | {row['peak_rss_gb']:.2f} |",
                      flush=True)
    print(f"\n{os.cpu_count()} CPUs, {args.threads} threads, {args.repeats} timed repeats after one warm-up; "
          "random weights (speed does not depend on them).")


if __name__ == "__main__":
    main()
