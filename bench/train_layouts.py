"""The discriminators' memory format in training: NHWC (channels_last) against NCHW, interleaved.

Each configuration (preset, stage, size, batch) runs in a fresh process that builds two trainers
with the same weights, one whose discriminators are NCHW and one whose discriminators are NHWC
(`tryon.precision.discriminator_memory_format` picks the layout the trainer uses; the generators
keep theirs), and alternates them over --rounds: a warm-up step, then --steps timed steps each,
the order swapped every round so that a busy machine slows both alike. A row reports the median
over rounds of each round's median step, their ratio and the rounds each layout won.

    .venv/bin/python bench/train_layouts.py --write bench/RESULTS.md
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/train_layouts.py  # no-bf16 CPU
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

from child import parse_or_measure, run_json
from machine import detect
from results import add_section_options, command_line, write_section

from tryon.precision import resolve_precision

HEADING = "## Training layouts"
LAYOUTS = {"contiguous": "contiguous_format", "channels_last": "channels_last"}
"""The layouts compared, NCHW first, and the names of their torch memory formats."""
DEFAULT_CONFIGURATIONS = (
    "default/sgm/256x192/1,default/fusion/256x192/1,original/sgm/256x192/1,default/sgm/128x96/4"
)


@dataclass(frozen=True)
class Configuration:
    """A training step to time: `preset`'s `stage` at `size` with `batch` samples."""

    preset: str
    stage: str
    size: str
    batch: int

    @classmethod
    def parse(cls, text: str) -> Configuration:
        """From `preset/stage/size/batch`, e.g. `default/sgm/256x192/1`."""
        parts = text.split("/")
        if len(parts) != 4 or not parts[3].isdigit():
            raise ValueError(
                f"a configuration is preset/stage/size/batch, e.g. default/sgm/256x192/1: got {text!r}"
            )
        return cls(parts[0], parts[1], parts[2], int(parts[3]))

    def __str__(self) -> str:
        return f"{self.preset}/{self.stage}/{self.size}/{self.batch}"


def measure(args: argparse.Namespace) -> dict:
    """Runs inside the configuration's process: both layouts' step times, round by round."""
    import torch
    from train import build_trainer

    torch.set_num_threads(args.threads)
    configuration = Configuration.parse(args.configuration)
    trainers = {}
    for layout, memory_format in LAYOUTS.items():
        trainer, batch = build_trainer(
            stage=configuration.stage,
            preset=configuration.preset,
            size=configuration.size,
            batch=configuration.batch,
            device=torch.device("cpu"),
            precision=args.precision,
            vgg=args.vgg,
        )
        # Before the first step, so that the optimizers' moments are created in this layout too.
        trainer.discriminators.to(memory_format=getattr(torch, memory_format))
        trainers[layout] = (trainer, [(list(range(configuration.batch)), batch)])

    def step(layout: str) -> float:
        trainer, micro_batches = trainers[layout]
        started = time.perf_counter()
        trainer.train_step(micro_batches, epoch=0)
        return time.perf_counter() - started

    rounds: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    for index in range(args.rounds):
        for layout in list(LAYOUTS) if index % 2 == 0 else list(LAYOUTS)[::-1]:
            step(layout)
            rounds[layout].append(statistics.median(step(layout) for _ in range(args.steps)))
    return {
        "configuration": str(configuration),
        "precision": trainers["contiguous"][0].precision.name,
        "rounds": rounds,
    }


def row(result: dict) -> str:
    nchw, nhwc = (result["rounds"][layout] for layout in LAYOUTS)
    wins = sum(last < plain for plain, last in zip(nchw, nhwc, strict=True))
    preset, stage, size, batch = result["configuration"].split("/")
    return (
        f"| {preset} | {stage} | {size} | {batch} | {statistics.median(nchw):.3f} | {statistics.median(nhwc):.3f} "
        f"| {statistics.median(nchw) / statistics.median(nhwc):.2f}x | {wins} of {len(nhwc)} |"
    )


HEADER = (
    "| preset | stage | size | batch | NCHW discriminators s/step | NHWC discriminators s/step "
    "| NHWC speed-up | rounds NHWC won |\n|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configurations",
        default=DEFAULT_CONFIGURATIONS,
        help="Comma-separated preset/stage/size/batch (stage: sgm, warp, fusion or full).",
    )
    parser.add_argument("--rounds", type=int, default=8, help="Alternations of the two layouts.")
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per layout and round (median).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--no-vgg", dest="vgg", action="store_false", help="Leave the perceptual loss out.")
    parser.add_argument("--configuration", help=argparse.SUPPRESS)
    add_section_options(parser, HEADING)
    args = parse_or_measure(parser, measure)
    if args is None:
        return
    configurations = [Configuration.parse(text) for text in args.configurations.split(",")]
    command = command_line("bench/train_layouts.py")
    machine = detect("cpu", threads=args.threads)
    description = machine.describe(resolve_precision(args.precision, "cpu").name)
    print(f"Machine: {description}\n{HEADER}", flush=True)
    rows = []
    for configuration in configurations:
        child = [sys.executable, __file__, "--child", "--configuration", str(configuration)]
        child += ["--rounds", str(args.rounds), "--steps", str(args.steps), "--threads", str(args.threads)]
        child += ["--precision", args.precision] + ([] if args.vgg else ["--no-vgg"])
        rows.append(row(run_json(child)))
        print(rows[-1], flush=True)
    if args.write:
        write_section(args.write, args.heading, section(command, description, rows, args))


def section(command: str, description: str, rows: list[str], args: argparse.Namespace) -> str:
    """The `## Training layouts` section of RESULTS.md."""
    table = "\n".join([HEADER, *rows])
    return f"""{args.heading}

Command: `{command}`
({time.strftime("%Y-%m-%d")}; {description}; perceptual loss {"on" if args.vgg else "off"}).

The discriminators' layout alone, the generators NCHW in both: two trainers with the same weights in
one process, alternated over {args.rounds} rounds of a warm-up step and {args.steps} timed steps each (the
order swapped every round); each column is the median over rounds of the round's median step.

{table}
"""


if __name__ == "__main__":
    main()
