"""Ablations: each of our changes to ACGPN turned off alone, trained and evaluated as the full model.

Every variant trains from scratch on the same synthetic data (params.yaml's `synth`), with the same
seed and the same fixed step counts: the demo's schedule scaled by `--scale` (each stage's
`max_steps` times it, the learning rate decaying over those steps, no time budget), so that the
metrics do not depend on how busy the machine is. A change that acts only at inference
(`no-tps-fit`) trains nothing: the `full` checkpoint is evaluated with the setting changed
(`tryon.eval.run.evaluate_checkpoint`'s `inference_settings`). `full` trained again with another
seed (`full-seed1`) measures how much the metrics move without any change: a variant's difference
from `full` counts only where it is larger than that. Training and evaluation are bench/quality.py's.

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python bench/ablate.py --write bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import detect
from quality import (
    METRICS,
    add_training_options,
    evaluate_run,
    generate_data,
    model_config,
    scale_schedule,
    stage_folders,
    stage_precision,
    stage_steps,
    train_run,
    value,
)
from results import command_line, write_section

from tryon.config import ModelConfig, Params, TrainConfig, load_params
from tryon.eval.curves import read_training_stats
from tryon.eval.metrics import metric_direction
from tryon.eval.run import INFERENCE_ONLY_SETTINGS
from tryon.train import select_stages, stage_checkpoint

HEADING = "## Ablations"
REFERENCE = "full"
REPLICATE = "full-seed1"
SHOWN_PRECISION = 0.001  # the table's metrics have three decimals


@dataclass(frozen=True)
class Variant:
    """A run of the ablation: params.yaml with one setting changed (none for the reference)."""

    name: str
    setting: str | None = None  # dotted params.yaml key, e.g. "model.tps_align_moments"
    value: Any = None

    @property
    def inference_only(self) -> bool:
        """Whether the setting acts only at inference, so that the variant reuses `full`'s checkpoint."""
        return self.setting is not None and self.setting.removeprefix("model.") in INFERENCE_ONLY_SETTINGS

    def describe(self) -> str:
        return "as params.yaml" if self.setting is None else f"{self.setting}: {self.value}"


CHANGES = (
    Variant("no-moment-alignment", "model.tps_align_moments", False),
    Variant("no-tps-fit", "model.tps_fit_steps", 0),
    Variant("no-composition-mask", "model.tryon_composition_mask", False),
    Variant("no-class-balance", "train.weights.layout_class_balance", 0.0),
    Variant("no-arm-masks", "train.arm_masks", False),
)
"""Our changes to ACGPN, each turned off: the setting that does it and ACGPN's value."""

BASELINES = (Variant(REFERENCE), Variant(REPLICATE, "train.seed", 1))
"""Always run: the reference, and the reference with another seed for the run-to-run spread."""


def apply(variant: Variant, model: ModelConfig, config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    """The model and training settings of `variant` (an inference-only setting is applied at
    evaluation instead, see `evaluation_settings`)."""
    if variant.setting is None or variant.inference_only:
        return model, config
    section, _, name = variant.setting.partition(".")
    if section == "model":
        return dataclasses.replace(model, **{name: variant.value}), config
    if name.startswith("weights."):
        weights = dataclasses.replace(config.weights, **{name.removeprefix("weights."): variant.value})
        return model, dataclasses.replace(config, weights=weights)
    return model, dataclasses.replace(config, **{name: variant.value})


def evaluation_settings(variant: Variant) -> dict[str, Any]:
    """The inference-only model settings `variant` evaluates `full`'s checkpoint with."""
    return {variant.setting.removeprefix("model."): variant.value} if variant.inference_only else {}


@dataclass(frozen=True)
class VariantRun:
    """One variant's training (or the reference's, reused) and evaluation."""

    variant: Variant
    steps: dict[str, int]
    wall_minutes: float | None  # the stages' training time; None: no training of its own
    precision: str
    metrics: dict[str, float]


def training_minutes(run_dir: Path) -> float:
    """The minutes the stages of a run trained, from each stage's last stats.jsonl line (setup,
    checkpoint writes between stages and evaluation not included)."""
    seconds = 0.0
    for folder in stage_folders(run_dir).values():
        (curves,) = read_training_stats(folder / "stats.jsonl")
        seconds += float(curves.rows[-1]["time"])
    return seconds / 60


def finished_metrics(run_dir: Path, trained_in: Path, config: TrainConfig) -> dict[str, float] | None:
    """The metrics an earlier invocation left in `run_dir`/eval for a run trained in `trained_in`,
    or None where it left none; a run of other step counts than `config`'s is refused."""
    metrics = run_dir / "eval" / "metrics.json"
    if not metrics.is_file():
        return None
    expected = {name: stage.max_steps for name, stage in config.stages.items()}
    if stage_steps(trained_in) != expected:
        raise ValueError(
            f"{trained_in} trained {stage_steps(trained_in)} steps, not this run's {expected}: "
            "rerun without --reuse or with the --scale it was trained with"
        )
    return json.loads(metrics.read_text())


def run_variants(
    variants: list[Variant],
    *,
    params: Params,
    model: ModelConfig,
    config: TrainConfig,
    work: Path,
    device: str,
    reuse: bool = False,
) -> Iterator[VariantRun]:
    """Train (where the variant needs it) and evaluate each variant in WORK/<name>, yielding each
    run as it finishes; the first variant must be the reference, whose checkpoint the
    inference-only variants reuse. With `reuse`, a variant that an earlier invocation trained and
    evaluated there (eval/metrics.json written) is read back instead, and the data is kept."""
    if variants[0].name != REFERENCE:
        raise ValueError(f"the first variant must be {REFERENCE!r}, whose checkpoint others reuse")
    data = work / "data"
    if not (reuse and data.is_dir()):
        generate_data(params, model, data)
    for variant in variants:
        run_dir = work / variant.name
        trained_in = work / REFERENCE if variant.inference_only else run_dir
        metrics = finished_metrics(run_dir, trained_in, config) if reuse else None
        print(f"{variant.name} ({variant.describe()}) in {run_dir}{' (reused)' * bool(metrics)}", flush=True)
        if metrics is None:
            if not variant.inference_only:
                variant_model, variant_config = apply(variant, model, config)
                train_run(
                    data=data, run_dir=run_dir, model=variant_model, config=variant_config, device=device
                )
            metrics = evaluate_run(
                stage_checkpoint(trained_in, "fusion"),
                data=data,
                run_dir=trained_in,
                out_dir=run_dir / "eval",
                params=params,
                device=device,
                inference_settings=evaluation_settings(variant),
            )
        run = VariantRun(
            variant=variant,
            steps=stage_steps(trained_in),
            wall_minutes=None if variant.inference_only else training_minutes(run_dir),
            precision=stage_precision(trained_in),
            metrics=metrics,
        )
        print(f"  steps {run.steps}, {run.wall_minutes or 0:.1f} min training", flush=True)
        yield run


def difference(run: VariantRun, reference: VariantRun, key: str) -> float | None:
    if key not in run.metrics or key not in reference.metrics:
        return None
    return run.metrics[key] - reference.metrics[key]


def markdown_table(runs: list[VariantRun]) -> str:
    """One row per variant: its setting, steps, training minutes and each metric with its
    difference from `full`."""
    stages = select_stages("all")
    reference = runs[0]
    header = (
        f"| variant | setting | steps {'/'.join(stages)} | wall min (training) | "
        + " | ".join(f"{key} (diff)" for key in METRICS)
        + " |"
    )
    rows = [header, "|" + "---|" * (4 + len(METRICS))]
    for run in runs:
        cells = []
        for key in METRICS:
            change = difference(run, reference, key)
            shown = "" if run is reference or change is None else f" ({change:+.3f})"
            cells.append(value(run.metrics, key) + shown)
        minutes = "(full's)" if run.wall_minutes is None else f"{run.wall_minutes:.1f}"
        steps = "/".join(str(run.steps[stage]) for stage in stages)
        rows.append(
            f"| {run.variant.name} | {run.variant.describe()} | {steps} | {minutes} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(rows)


def verdict(run: VariantRun, reference: VariantRun, replicate: VariantRun) -> str:
    """What turning the change off does, metric by metric: the change helps where turning it off
    is worse. A trained variant's difference from `full` counts only where it is larger than
    `full`'s own with another seed; an inference-only variant runs `full`'s very weights, so every
    difference the table shows (0.001 or more) is the setting's alone."""
    helps, hurts = [], []
    for key in METRICS:
        change = difference(run, reference, key)
        spread = difference(replicate, reference, key)
        higher = metric_direction(key)
        if change is None or spread is None or higher is None:
            continue
        bar = SHOWN_PRECISION if run.variant.inference_only else max(abs(spread), SHOWN_PRECISION)
        if abs(change) < bar:
            continue
        worse_without = change < 0 if higher else change > 0
        (helps if worse_without else hurts).append(f"{key} {change:+.3f}")
    if not helps and not hurts:
        within = "the table's precision" if run.variant.inference_only else "the seed spread"
        return f"no measurable effect (every difference within {within})"
    parts = []
    if helps:
        parts.append("helps (without it: " + ", ".join(helps) + ")")
    if hurts:
        parts.append("hurts (without it: " + ", ".join(hurts) + ")")
    return "; ".join(parts)


def still_to_run(pending: list[Variant]) -> str:
    """A line naming the variants a run stopped early did not reach (none: an empty line)."""
    if not pending:
        return ""
    names = ", ".join(variant.name for variant in pending)
    return f"\nNot run (the run stopped before them): {names}.\n"


def verdicts(runs: list[VariantRun]) -> str:
    """One line per change: the setting that turns it off and what that does."""
    by_name = {run.variant.name: run for run in runs}
    reference, replicate = by_name[REFERENCE], by_name[REPLICATE]
    return "\n".join(
        f"- `{run.variant.setting}` ({run.variant.name}): {verdict(run, reference, replicate)}"
        for run in runs
        if run.variant not in BASELINES
    )


def section(
    command: str,
    runs: list[VariantRun],
    pending: list[Variant],
    machine_line: str,
    *,
    params: Params,
    model: ModelConfig,
    config: TrainConfig,
    scale: float,
) -> str:
    """The `## Ablations` section of RESULTS.md."""
    steps = ", ".join(f"{name} {stage.max_steps}" for name, stage in config.stages.items())
    return f"""{HEADING}

Command: `{command}`
({time.strftime("%Y-%m-%d")}; {machine_line}).

Each of our changes to ACGPN turned off alone (the setting in the table) and trained from scratch
with everything else as params.yaml (preset {model.preset} at {model.resolution}, batch \
{config.batch_size}, lr {config.lr:g}, seed {config.seed}; synthetic data: {params.synth.n_train} \
train and {params.synth.n_test} test pairs, seed {params.synth.seed}), for the same fixed steps:
the demo's schedule scaled by {scale:g} ({steps} steps, the learning rate decaying to 0 over them, no
time budget). Training is deterministic in its steps, so the metrics do not depend on the machine's
load; `wall min` does, and was measured on a machine shared with other work: it only says roughly
what each variant costs. `no-tps-fit` trains nothing: it is `full`'s checkpoint evaluated without
the fit at inference. `full-seed1` is `full` trained with seed 1: its difference from `full` is the
run-to-run spread, and a trained variant's difference counts below only where it is larger than
that on the same metric (one replicate: a rough bar, not a significance test); `no-tps-fit` runs
`full`'s very weights, so each of its differences is the setting's alone. Every run is evaluated on
the same test split; the difference from `full` is in brackets.

{markdown_table(runs)}
{still_to_run(pending)}
What each change does (turning it off is worse on a metric: the change helps there):

{verdicts(runs)}
"""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=0.5, help="Factor on the demo's max_steps of every stage."
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[variant.name for variant in CHANGES],
        default=[variant.name for variant in CHANGES],
        help=f"Changes to turn off, in this order ({REFERENCE} and {REPLICATE} always run first).",
    )
    add_training_options(parser, work=Path("runs/bench-ablate"), runs="<variant>/")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep WORK's data and read back the variants an earlier invocation of the same options "
        "trained and evaluated there (to finish an interrupted run).",
    )
    parser.add_argument("--write", type=Path, help=f"Results file whose {HEADING} section to (re)write.")
    return parser.parse_args()


def main() -> None:
    args = parse_arguments()
    if args.scale <= 0:
        sys.exit(f"--scale {args.scale:g} must be positive")
    params = load_params(args.params)
    model = model_config(params, preset=args.preset, size=args.size)
    config = dataclasses.replace(
        params.train,
        precision=args.precision or params.train.precision,
        stages=scale_schedule(params.train.stages, args.scale, keep_budgets=False),
    )
    chosen = [variant for variant in CHANGES if variant.name in args.variants]
    chosen.sort(key=lambda variant: args.variants.index(variant.name))
    variants = [*BASELINES, *chosen]
    runs: list[VariantRun] = []
    for run in run_variants(
        variants,
        params=params,
        model=model,
        config=config,
        work=args.work,
        device=args.device,
        reuse=args.reuse,
    ):
        runs.append(run)
        if args.write and len(runs) >= len(BASELINES):  # each finished variant is kept at once
            pending = variants[len(runs) :]
            machine_line = detect(args.device).describe(runs[0].precision)
            text = section(
                command_line("bench/ablate.py"),
                runs,
                pending,
                machine_line,
                params=params,
                model=model,
                config=config,
                scale=args.scale,
            )
            write_section(args.write, HEADING, text)
    print(
        f"\n{detect(args.device).describe(runs[0].precision)}\n\n{markdown_table(runs)}\n\n{verdicts(runs)}"
    )


if __name__ == "__main__":
    main()
