"""Time to quality: the demo's training schedule scaled to several wall-clock budgets, each
checkpoint evaluated on the same held-out synthetic split.

The synthetic dataset of params.yaml's `synth` section is generated once into WORK/data. A total
budget of M minutes scales the demo's schedule by M / (the sum of the stages' `budget_minutes` in
params.yaml): each stage runs that share of its `max_steps`, so that its learning rate decays to 0
over the run's own steps as in the demo, with its budget scaled the same way kept only as a cap
(on a machine slower than the one the budgets were set on, the cap ends a stage before its decay
does, and the table shows the steps it reached). Each run trains in WORK/<minutes>min through
`tryon.train.train`, the demo's entry point, and is evaluated there by
`tryon.eval.run.evaluate_checkpoint`. The table is printed and the curve (each metric against
training minutes and against images seen, beside the naive paste baseline) written to WORK; with
`--write` the curve goes beside that results file instead and the table into its
`## Time to quality` section. bench/ablate.py reuses these functions at fixed step counts.

    .venv/bin/python bench/quality.py --write bench/RESULTS.md                  # 2, 4, 8, 16 min
    .venv/bin/python bench/quality.py --preset original --device cuda --minutes 1 2 4 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import detect
from matplotlib.figure import Figure
from results import command_line, write_section

from tryon.config import (
    PRECISIONS,
    PRESETS,
    ModelConfig,
    Params,
    Resolution,
    StageConfig,
    TrainConfig,
    load_params,
)
from tryon.data.synthetic import generate_dataset
from tryon.eval.curves import read_training_stats
from tryon.eval.evaluator import BASELINE
from tryon.eval.metrics import metric_direction
from tryon.eval.run import evaluate_checkpoint
from tryon.eval.weights import EvalWeights
from tryon.train import select_stages, stage_checkpoint, train

HEADING = "## Time to quality"
METRICS = (
    "warp/iou",
    "unpaired/l1/changed",
    "unpaired/ssim/changed",
    "paired/ssim/changed",
    "layout/iou/arms",
)
"""The headline metrics, each shown beside the naive paste baseline's (`baseline/` + key)."""
PLOT_NAME = "time_to_quality.png"


@dataclass(frozen=True)
class BudgetRun:
    """One training run under a total budget, and its evaluation."""

    minutes: float  # the total budget
    wall_minutes: float  # what `train` took, setup and checkpoint writes included
    steps: dict[str, int]  # optimizer steps per stage
    batch_size: int
    precision: str  # what the stages ran, as their options.json records it
    metrics: dict[str, float]

    @property
    def images_seen(self) -> int:
        return sum(self.steps.values()) * self.batch_size


def scale_schedule(
    stages: dict[str, StageConfig], factor: float, *, keep_budgets: bool
) -> dict[str, StageConfig]:
    """The stages with `factor` times their `max_steps` (at least one step each), over which their
    learning rates decay (`tryon.train.schedule`), and with `keep_budgets` their budgets (where set)
    scaled the same way as a cap; without it, no budget, so that the step counts alone end them."""
    missing = [name for name, stage in stages.items() if stage.max_steps is None]
    if missing:
        raise ValueError(
            f"train.stages.{{{','.join(missing)}}}.max_steps is not set in params.yaml; "
            "the benchmark scales the demo's schedule, which those steps define"
        )
    return {
        name: dataclasses.replace(
            stage,
            max_steps=max(1, round(stage.max_steps * factor)),
            budget_minutes=stage.budget_minutes * factor if keep_budgets and stage.budget_minutes else None,
        )
        for name, stage in stages.items()
    }


def scale_to_budget(stages: dict[str, StageConfig], total_minutes: float) -> dict[str, StageConfig]:
    """The demo's schedule scaled by `total_minutes` / the sum of the stages' budgets
    (`scale_schedule`), the budgets kept as caps, which then sum to `total_minutes`."""
    missing = [name for name, stage in stages.items() if stage.budget_minutes is None]
    if missing:
        raise ValueError(
            f"train.stages.{{{','.join(missing)}}}.budget_minutes is not set in params.yaml; "
            "the benchmark scales the schedule by each total budget over the sum of the stages' budgets"
        )
    factor = total_minutes / sum(stage.budget_minutes for stage in stages.values())
    return scale_schedule(stages, factor, keep_budgets=True)


def model_config(params: Params, *, preset: str | None, size: str | None) -> ModelConfig:
    """params.yaml's model, at `size` and with the widths of `preset` where given."""
    resolution = Resolution.parse(size) if size else params.model.resolution
    widths = {"preset": preset, **PRESETS[preset]} if preset else {}
    return dataclasses.replace(params.model, resolution=resolution, **widths)


def stage_folders(run_dir: Path) -> dict[str, Path]:
    """Each stage's run folder (checkpoint, stats.jsonl, options.json), in training order."""
    return {stage: stage_checkpoint(run_dir, stage).parent for stage in select_stages("all")}


def stage_steps(run_dir: Path) -> dict[str, int]:
    """Optimizer steps per stage, from the last line of each stage's stats.jsonl."""
    steps = {}
    for stage, folder in stage_folders(run_dir).items():
        (curves,) = read_training_stats(folder / "stats.jsonl")
        steps[stage] = int(curves.rows[-1]["step"])
    return steps


def stage_precision(run_dir: Path) -> str:
    """The precision the stages ran, from their options.json (one name, or each stage's)."""
    names = [
        json.loads((folder / "options.json").read_text())["precision"]
        for folder in stage_folders(run_dir).values()
    ]
    return names[0] if len(set(names)) == 1 else "/".join(names)


def train_run(
    *, data: Path, run_dir: Path, model: ModelConfig, config: TrainConfig, device: str
) -> tuple[Path, float]:
    """Train every stage into a fresh `run_dir`: the final checkpoint and the wall minutes `train`
    took, setup and checkpoint writes included."""
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    checkpoint = train(
        stage="all",
        data_root=data,
        out_dir=run_dir,
        model_config=model,
        config=config,
        device=device,
        progress=False,
    )
    return checkpoint, (time.perf_counter() - started) / 60


def evaluate_run(
    checkpoint: Path,
    *,
    data: Path,
    run_dir: Path,
    out_dir: Path,
    params: Params,
    device: str,
    inference_settings: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The metrics of `checkpoint` (trained in `run_dir`, whose loss curves the report shows) on the
    test split, with its report in `out_dir`; `inference_settings` as `evaluate_checkpoint` takes them."""
    outcome = evaluate_checkpoint(
        checkpoint=checkpoint,
        data=data,
        out_dir=out_dir,
        weights=EvalWeights(inception=params.eval.inception_weights),
        device=device,
        training_stats=[folder / "stats.jsonl" for folder in stage_folders(run_dir).values()],
        inference_settings=inference_settings,
    )
    return outcome.result.metrics


def run_budget(
    minutes: float,
    *,
    data: Path,
    run_dir: Path,
    params: Params,
    model: ModelConfig,
    config: TrainConfig,
    device: str,
) -> BudgetRun:
    """Train every stage on the demo's schedule scaled to `minutes` in all (`scale_to_budget`) into a
    fresh `run_dir` and evaluate the result."""
    config = dataclasses.replace(config, stages=scale_to_budget(config.stages, minutes))
    checkpoint, wall_minutes = train_run(
        data=data, run_dir=run_dir, model=model, config=config, device=device
    )
    metrics = evaluate_run(
        checkpoint, data=data, run_dir=run_dir, out_dir=run_dir / "eval", params=params, device=device
    )
    return BudgetRun(
        minutes=minutes,
        wall_minutes=wall_minutes,
        steps=stage_steps(run_dir),
        batch_size=config.batch_size,
        precision=stage_precision(run_dir),
        metrics=metrics,
    )


def generate_data(params: Params, model: ModelConfig, folder: Path) -> Path:
    """params.yaml's synthetic dataset at the model's resolution, generated afresh into `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    generate_dataset(
        folder,
        n_train=params.synth.n_train,
        n_test=params.synth.n_test,
        resolution=model.resolution,
        seed=params.synth.seed,
    )
    return folder


def value(metrics: dict[str, float], key: str) -> str:
    """A metric to three decimals, or "-" where the evaluation did not produce it."""
    return f"{metrics[key]:.3f}" if key in metrics else "-"


def markdown_table(runs: list[BudgetRun]) -> str:
    """One row per budget: time, steps, images seen, and each metric as `model / baseline`."""
    stages = select_stages("all")
    header = (
        f"| budget min | trained min | steps {'/'.join(stages)} | images seen | "
        + " | ".join(f"{key} (model / paste)" for key in METRICS)
        + " |"
    )
    rows = [header, "|" + "---|" * (4 + len(METRICS))]
    for run in runs:
        cells = [f"{value(run.metrics, key)} / {value(run.metrics, BASELINE + key)}" for key in METRICS]
        steps = "/".join(str(run.steps[stage]) for stage in stages)
        rows.append(
            f"| {run.minutes:g} | {run.wall_minutes:.1f} | {steps} | {run.images_seen} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(rows)


def legend(key: str) -> str:
    """A metric's name and which way is better."""
    higher = metric_direction(key)
    return key if higher is None else f"{key} ({'higher' if higher else 'lower'} is better)"


def plot_curves(runs: list[BudgetRun], path: Path) -> Path:
    """Each metric against training minutes (left) and images seen (right): the model solid, the
    naive paste baseline dashed in the same colour."""
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    panels = (
        ("training minutes (wall clock)", [run.wall_minutes for run in runs], "{:.1f}"),
        ("images seen (steps x batch, all stages)", [run.images_seen for run in runs], "{:d}"),
    )
    for index, (label, xs, tick) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        for number, key in enumerate(METRICS):
            for prefix, style in (("", "-o"), (BASELINE, "--")):
                points = [
                    (x, run.metrics[prefix + key])
                    for x, run in zip(xs, runs, strict=True)
                    if prefix + key in run.metrics
                ]
                if points:
                    name = None if prefix else legend(key)
                    axes.plot(*zip(*points, strict=True), style, color=f"C{number}", label=name)
        axes.set_xscale("log")  # the budgets double from run to run
        axes.set_xticks(xs, [tick.format(x) for x in xs])
        axes.minorticks_off()
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("metric (dashed: naive paste baseline)")
    figure.axes[0].legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Software": None})
    return path


def section(
    command: str,
    table: str,
    plot: Path,
    machine_line: str,
    model: ModelConfig,
    params: Params,
    minutes: list[float],
) -> str:
    """The `## Time to quality` section of RESULTS.md."""
    stages = params.train.stages
    shares = ", ".join(f"{name} {stage.budget_minutes:g}" for name, stage in stages.items())
    total = sum(stage.budget_minutes for stage in stages.values())
    steps = ", ".join(f"{name} {stage.max_steps}" for name, stage in stages.items())
    budgets = ", ".join(f"{total:g}" for total in minutes)
    return f"""{HEADING}

Command: `{command}`
({time.strftime("%Y-%m-%d")}; {machine_line}).

The demo's schedule (preset {model.preset} at {model.resolution}, batch {params.train.batch_size}, \
lr {params.train.lr:g}; synthetic data: {params.synth.n_train} train and {params.synth.n_test} test pairs, \
seed {params.synth.seed}), trained from scratch for each total budget of {budgets} minutes. A budget of
M minutes scales the demo's schedule by M / {total:g} (the sum of the stages' budgets in the
parameters file: {shares} min): each stage runs that share of its max_steps ({steps}), its learning
rate decaying to 0 over those steps as in the demo, with its budget scaled the same way as a cap
(checked every {params.train.log_interval} steps; a stage it ends shows fewer steps than its share).
`trained min` is the wall clock of all three stages, setup and checkpoints included.
Every run is evaluated on the same test split; each metric is shown as model / naive paste baseline
(the evaluation report says how the baseline works), `-` where the evaluation has no such key.

{table}

![time to quality]({plot.name})
"""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, nargs="+", default=[2, 4, 8, 16], help="Total training budgets."
    )
    add_training_options(parser, work=Path("runs/bench-quality"), runs="<minutes>min/")
    parser.add_argument("--write", type=Path, help=f"Results file whose {HEADING} section to (re)write.")
    return parser.parse_args()


def add_training_options(parser: argparse.ArgumentParser, *, work: Path, runs: str) -> None:
    """The options that say what is trained and where (shared with bench/ablate.py): the demo's
    parameters, a preset's widths, the size, the device, the precision and the working folder,
    whose data/ and `runs` folders are replaced."""
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="The demo's parameters.")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="A preset's widths (default: the parameters' model as it is).",
    )
    parser.add_argument("--size", help="Resolution HxW, e.g. 256x192 (default: params.yaml's).")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N.")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="Training precision (default: params.yaml's)."
    )
    parser.add_argument(
        "--work", type=Path, default=work, help=f"Working folder; its data/ and {runs} folders are replaced."
    )


def main() -> None:
    args = parse_arguments()
    params = load_params(args.params)
    model = model_config(params, preset=args.preset, size=args.size)
    config = dataclasses.replace(params.train, precision=args.precision or params.train.precision)
    data = generate_data(params, model, args.work / "data")
    runs = []
    for minutes in args.minutes:
        run_dir = args.work / f"{minutes:g}min"
        print(f"training under {minutes:g} min in {run_dir}", flush=True)
        run = run_budget(
            minutes,
            data=data,
            run_dir=run_dir,
            params=params,
            model=model,
            config=config,
            device=args.device,
        )
        print(f"  steps {run.steps} in {run.wall_minutes:.1f} min, precision {run.precision}", flush=True)
        runs.append(run)

    table = markdown_table(runs)
    plot = plot_curves(runs, (args.write.parent if args.write else args.work) / PLOT_NAME)
    machine_line = detect(args.device).describe(runs[0].precision)
    print(f"\n{machine_line}\n\n{table}\n\ncurve: {plot}")
    if args.write:
        section_text = section(
            command_line("bench/quality.py"), table, plot, machine_line, model, params, args.minutes
        )
        write_section(args.write, HEADING, section_text)


if __name__ == "__main__":
    main()
